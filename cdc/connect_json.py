"""Kafka Connect JSON documents whose schema was seen before, read faster.

The JSON converter sends every record as ``{"schema": ..., "payload": ...}``,
and the schema (the larger half) is the same for every record of a table.
`SchemaMemo` remembers each schema by its exact bytes, so a record whose
schema bytes were seen parses only its payload, and the column types derived
from a schema are computed once.

A schema's bytes are remembered only after the whole document was parsed
and the split checked against it, so a memo hit is always the parse the full
path would have made. One memo belongs to one decoder (its column types).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

HEAD = b'{"schema":'
PAYLOAD = b',"payload":'
MAX_SCHEMAS = 4096  # distinct schemas remembered; past that, parsed in full


class SchemaMemo:
    """Schemas by their bytes, and the column types derived from them."""

    def __init__(self) -> None:
        self._schemas: dict[bytes, Mapping[str, Any]] = {}
        self._types: dict[tuple[str, bytes, Any, Any], Any] = {}

    def split(self, data: bytes) -> tuple[bytes, Mapping[str, Any], Any] | None:
        """(schema bytes, schema, payload) when the schema was seen before."""
        if not data.startswith(HEAD) or not data.endswith(b"}"):
            return None
        cut = data.find(PAYLOAD)
        schema = self._schemas.get(data[:cut]) if cut > 0 else None
        if schema is None:
            return None
        try:
            return data[:cut], schema, orjson.loads(data[cut + len(PAYLOAD) : -1])
        except orjson.JSONDecodeError:
            return None  # the full parse reports it

    def learn(self, data: bytes, doc: Any) -> bytes | None:
        """Remember the schema of a fully parsed document; its bytes, when
        the document splits exactly into that schema and its payload."""
        if not isinstance(doc, dict) or list(doc) != ["schema", "payload"]:
            return None
        if not isinstance(doc["schema"], dict) or not data.startswith(HEAD):
            return None
        cut = data.find(PAYLOAD)
        if cut <= 0 or not data.endswith(b"}"):
            return None
        try:
            schema = orjson.loads(data[len(HEAD) : cut])
            payload = orjson.loads(data[cut + len(PAYLOAD) : -1])
        except orjson.JSONDecodeError:
            return None
        if schema != doc["schema"] or payload != doc["payload"]:
            return None
        if len(self._schemas) < MAX_SCHEMAS:
            self._schemas[data[:cut]] = doc["schema"]
        return data[:cut]

    def types(self, key: tuple[str, bytes, Any, Any], derive: Callable[[], Any]) -> Any:
        """The column types for (part, schema bytes, source schema, table), derived once."""
        found = self._types.get(key)
        if found is None:
            found = derive()
            if len(self._types) < MAX_SCHEMAS:
                self._types[key] = found
        return found
