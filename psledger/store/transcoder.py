"""Event state as JSON through orjson, byte for byte as the library writes it.

Encoding gives the bytes eventsourcing's `JSONTranscoder` gives (the stored
state, and the audit journal's hashes of it, do not depend on which one
wrote them). orjson writes a state only when one pass over its containers
finds nothing but values that orjson and the library's `json` encoder write
alike: `str`, `int`, `bool`, `None`, `dict`, `list`, `tuple` and the types of
the registered transcodings that orjson hands to `default` (`Decimal`,
`datetime`, `date`, `Provenance`). Anything else (a float, a `UUID`, an
`Enum`, a subclass of a built-in type, an integer beyond 64 bits, a key that
is not a string, a lone surrogate) is written by the library's encoder.

Decoding parses with orjson and then replaces each `{"_type_": name,
"_data_": data}` object by the registered transcoding's value, innermost
first, exactly as the library's `object_hook` does. The library reads what
orjson refuses (NaN, lone surrogates) and any state in which orjson found a
float: orjson reads an integer beyond 64 bits as a float, losing digits, and
psledger's states hold no floats of their own (money is Decimal).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Transcoding,
    UUIDAsHex,
)

# orjson writes these itself (never through `default`), unlike the library
_NATIVE_TO_ORJSON = (UUID, enum.Enum, float, int, str, dict, list, tuple)
_PLAIN = frozenset({str, int, bool, type(None)})
_CONTAINERS = frozenset({dict, list, tuple})
_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


# transcodings whose `decode` is a single call: the walk makes that call itself
_PARSERS: dict[type[Transcoding], Callable[[Any], Any]] = {
    DecimalAsStr: Decimal,
    DatetimeAsISO: datetime.fromisoformat,
    DateAsISO: date.fromisoformat,
    UUIDAsHex: UUID,
}


class _Float(Exception):
    """A float in orjson's reading: perhaps an integer it could not hold."""


class _NotPlain(Exception):
    """A transcoding's data holds a value the library would write otherwise."""


class OrjsonTranscoder(JSONTranscoder):
    """`JSONTranscoder` whose `encode` and `decode` run through orjson when
    that gives the library's bytes and values, and the library's code when not."""

    def __init__(self) -> None:
        self._decoders: dict[str, Callable[[Any], Any]] = {}  # by name, as registered
        super().__init__()
        self._leaves = _PLAIN
        self._allowed = _PLAIN | _CONTAINERS
        self._walk, self._walk_list = _walker(self._decoders, self._decode_obj)

    def register(self, transcoding: Transcoding) -> None:
        super().register(transcoding)
        self._decoders[transcoding.name] = _PARSERS.get(type(transcoding), transcoding.decode)
        through_default = frozenset(
            kind for kind in self.types if not issubclass(kind, _NATIVE_TO_ORJSON)
        )
        self._leaves = _PLAIN | through_default
        self._allowed = self._leaves | _CONTAINERS

    # -- encoding --------------------------------------------------------------

    def encode(self, obj: Any) -> bytes:
        if self._plain(obj.values() if type(obj) is dict else (obj,)):
            try:
                return orjson.dumps(obj, default=self._default, option=_OPTIONS)
            except orjson.JSONEncodeError:
                pass  # a long integer, a key that is not a string, a lone surrogate...
        return super().encode(obj)

    def _plain(self, values: Collection[Any]) -> bool:
        """Whether orjson writes these values (and all they hold) as the library does."""
        kinds = set(map(type, values))
        if kinds <= self._leaves:
            return True
        if not kinds <= self._allowed:
            return False
        for value in values:
            kind = type(value)
            if kind is dict:
                if not self._plain(value.values()):
                    return False
            elif (kind is list or kind is tuple) and not self._plain(value):
                return False
        return True

    def _default(self, obj: Any) -> dict[str, Any]:
        transcoding = self.types[type(obj)]  # a KeyError: the library's encoder says why
        data = transcoding.encode(obj)
        if type(data) is not str and not self._plain((data,)):
            raise _NotPlain
        return {"_type_": transcoding.name, "_data_": data}

    # -- decoding --------------------------------------------------------------

    def decode(self, data: bytes) -> Any:
        try:
            parsed = orjson.loads(data)
            kind = type(parsed)
            if kind is dict:
                return self._walk(parsed)
            if kind is list:
                self._walk_list(parsed)
            elif kind is float:
                raise _Float
            return parsed
        except (orjson.JSONDecodeError, _Float):
            return super().decode(data)


def _walker(
    decoders: dict[str, Callable[[Any], Any]], decode_obj: Callable[[dict[str, Any]], Any]
) -> tuple[Callable[[dict[str, Any]], Any], Callable[[list[Any]], None]]:
    """Functions that decode a parsed object (or array) in place, innermost first, as
    the library's `object_hook` would: each `{"_type_": name, "_data_": data}`
    becomes its transcoding's value (a name not registered: the library's
    error). On the hot path of every event read, so it is closures over
    locals, not method calls."""

    def node(obj: dict[str, Any]) -> Any:
        if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
            data = obj["_data_"]
            kind = type(data)
            if kind is dict:
                data = obj["_data_"] = node(data)
            elif kind is list:
                array(data)
            elif kind is float:
                raise _Float
            decode = decoders.get(obj["_type_"])
            return decode_obj(obj) if decode is None else decode(data)
        for key, value in obj.items():
            kind = type(value)
            if kind is dict:
                obj[key] = node(value)
            elif kind is list:
                array(value)
            elif kind is float:
                raise _Float
        return obj

    def array(values: list[Any]) -> None:
        for index, value in enumerate(values):
            kind = type(value)
            if kind is dict:
                values[index] = node(value)
            elif kind is list:
                array(value)
            elif kind is float:
                raise _Float

    return node, array
