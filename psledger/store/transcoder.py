"""Event state as JSON: written by the library's transcoder, read by orjson.

Encoding is eventsourcing's `JSONTranscoder` unchanged, so the stored bytes
(and the audit journal's hashes of them) are what they always were.
Decoding parses with orjson and then replaces each `{"_type_": name,
"_data_": data}` object by the registered transcoding's value, innermost
first, exactly as the library's `object_hook` does. The library reads what
orjson refuses (NaN, lone surrogates) and any state with a run of 19 or more
digits: orjson reads an integer outside 64 bits as a float, losing digits.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

# -9223372036854775809 is the shortest integer orjson does not read as one.
LONG_NUMBER = re.compile(rb"\d{19}")


class OrjsonDecodingTranscoder(JSONTranscoder):
    """`JSONTranscoder` whose `decode` is orjson plus one walk of the result."""

    def decode(self, data: bytes) -> Any:
        if LONG_NUMBER.search(data) is not None:
            return super().decode(data)
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return super().decode(data)
        kind = type(parsed)
        if kind is dict:
            return self._dict(parsed)
        if kind is list:
            self._list(parsed)
        return parsed

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
        return obj

    def _list(self, array: list[Any]) -> None:
        for index, value in enumerate(array):
            kind = type(value)
            if kind is dict:
                array[index] = self._dict(value)
            elif kind is list:
                self._list(value)
