"""Event state as JSON: written by the library's transcoder, read by orjson.

Encoding is eventsourcing's `JSONTranscoder` unchanged, so the stored bytes
(and the audit journal's hashes of them) are what they always were.
Decoding parses with orjson and then replaces each `{"_type_": name,
"_data_": data}` object by the registered transcoding's value, innermost
first, exactly as the library's `object_hook` does. The library reads what
orjson refuses (NaN, lone surrogates) and any state in which orjson found a
float: orjson reads an integer beyond 64 bits as a float, losing digits, and
psledger's states hold no floats of their own (money is Decimal).
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder


class _Float(Exception):
    """A float in orjson's reading: perhaps an integer it could not hold."""


class OrjsonDecodingTranscoder(JSONTranscoder):
    """`JSONTranscoder` whose `decode` is orjson plus one walk of the result."""

    def decode(self, data: bytes) -> Any:
        try:
            parsed = orjson.loads(data)
            kind = type(parsed)
            if kind is dict:
                return self._dict(parsed)
            if kind is list:
                self._list(parsed)
            elif kind is float:
                raise _Float
            return parsed
        except (orjson.JSONDecodeError, _Float):
            return super().decode(data)

    def _dict(self, obj: dict[str, Any]) -> Any:
        """`obj` decoded: the transcoded value if it is one."""
        if len(obj) == 2 and "_type_" in obj and "_data_" in obj:
            return self._transcoded(obj)
        return self._members(obj)

    def _transcoded(self, obj: dict[str, Any]) -> Any:
        data = obj["_data_"]
        kind = type(data)
        if kind is dict:
            obj["_data_"] = self._dict(data)
        elif kind is list:
            self._list(data)
        elif kind is float:
            raise _Float
        return self._decode_obj(obj)

    def _members(self, obj: dict[str, Any]) -> dict[str, Any]:
        for key, value in obj.items():
            kind = type(value)
            if kind is dict:
                if len(value) == 2 and "_type_" in value and "_data_" in value:
                    obj[key] = self._transcoded(value)
                else:
                    self._members(value)
            elif kind is list:
                self._list(value)
            elif kind is float:
                raise _Float
        return obj

    def _list(self, array: list[Any]) -> None:
        for index, value in enumerate(array):
            kind = type(value)
            if kind is dict:
                array[index] = self._dict(value)
            elif kind is list:
                self._list(value)
            elif kind is float:
                raise _Float
