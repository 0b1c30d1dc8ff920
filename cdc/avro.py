"""Avro records in the Confluent wire format: magic 0, 4-byte schema id, Avro body.

Writer schemas are fetched from the schema registry by id, parsed once and
cached. fastavro's own logical-type handling is switched off (the schema's
``logicalType`` attributes are dropped before parsing) so that Avro values go
through the same ``cdc.values`` conversion as JSON ones.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import fastavro
import orjson

from cdc.envelope import envelope_from_dict, is_heartbeat, table_types, where
from cdc.errors import DecodeError, SourceError
from cdc.records import Decoded, Heartbeat, RawRecord, Tombstone
from cdc.schema_types import avro_envelope_row, avro_record_types
from cdc.values import ColumnType, ColumnTypes, convert_row

MAGIC = 0
_ROW_CACHE_SIZE = 1024
_HEADER = struct.Struct(">bI")


class SchemaLookup(Protocol):
    """What the decoder needs from a schema registry client (``get_schema(id).schema_str``)."""

    def get_schema(self, schema_id: int) -> Any: ...


@dataclass(frozen=True, slots=True)
class WriterSchema:
    """A parsed writer schema and the column types read from it."""

    schema_id: int
    parsed: Any
    types: dict[str, ColumnType]
    row: Mapping[str, Any] | None  # the record schema of the row (before/after) or None


def wire_header(schema_id: int) -> bytes:
    """The 5-byte Confluent wire-format header for ``schema_id``."""
    return _HEADER.pack(MAGIC, schema_id)


class AvroDecoder:
    """Decodes Confluent-framed Avro Debezium records."""

    def __init__(self, registry: SchemaLookup, *, column_types: ColumnTypes | None = None) -> None:
        self._registry = registry
        self._column_types = column_types
        self._cache: dict[int, WriterSchema] = {}
        self._row_cache: dict[tuple[int, Any, Any], dict[str, ColumnType]] = {}

    def decode(self, raw: RawRecord) -> Decoded:
        """Decode one record; bad input raises DecodeError, registry failure SourceError."""
        if is_heartbeat(raw):
            return Heartbeat(raw)
        key = None
        if raw.key is not None:
            key_doc, key_schema = self._read(raw.key, raw, "key")
            if not isinstance(key_doc, Mapping):
                raise DecodeError("not_an_envelope", f"{where(raw)}: key is not a record")
            key = convert_row(key_doc, key_schema.types, f"{where(raw)} key")
        if raw.value is None:
            return Tombstone(key, raw)
        doc, schema = self._read(raw.value, raw, "value")
        row_types: Mapping[str, ColumnType] | None = schema.types
        if isinstance(doc, Mapping) and isinstance(doc.get("source"), Mapping):
            src = doc["source"]
            row_types = self._row_types(schema, src.get("schema"), src.get("table"))
        return envelope_from_dict(doc, raw, key=key, row_types=row_types)

    def _row_types(
        self, schema: WriterSchema, db_schema: Any, table: Any
    ) -> Mapping[str, ColumnType]:
        """The writer schema's column types under the table's declared types."""
        cache_key = (schema.schema_id, db_schema, table)
        types = self._row_cache.get(cache_key)
        if types is None:
            declared = table_types(self._column_types, db_schema, table)
            types = avro_record_types(schema.row, declared) if schema.row else dict(declared or {})
            if len(self._row_cache) >= _ROW_CACHE_SIZE:
                self._row_cache.clear()
            self._row_cache[cache_key] = types
        return types

    def _read(self, data: bytes, raw: RawRecord, part: str) -> tuple[Any, WriterSchema]:
        if len(data) < _HEADER.size:
            raise DecodeError("truncated_avro", f"{where(raw)}: {part} shorter than the header")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError("bad_magic_byte", f"{where(raw)}: {part} magic byte {magic}")
        schema = self._schema(schema_id, raw, part)
        body = io.BytesIO(data)
        body.seek(_HEADER.size)
        try:
            doc = fastavro.schemaless_reader(body, schema.parsed, None)
        except (EOFError, StopIteration, IndexError, struct.error, ValueError) as exc:
            raise DecodeError(
                "truncated_avro", f"{where(raw)}: {part} body does not match schema {schema_id}"
            ) from exc
        if body.tell() != len(data):
            raise DecodeError(
                "trailing_bytes", f"{where(raw)}: {part} has bytes after the Avro body"
            )
        return doc, schema

    def _schema(self, schema_id: int, raw: RawRecord, part: str) -> WriterSchema:
        cached = self._cache.get(schema_id)
        if cached is not None:
            return cached
        try:
            registered = self._registry.get_schema(schema_id)
        except Exception as exc:
            if getattr(exc, "http_status_code", None) == 404:
                raise DecodeError(
                    "unknown_schema_id", f"{where(raw)}: {part} schema id {schema_id} not found"
                ) from exc
            raise SourceError(f"schema registry lookup of id {schema_id} failed: {exc}") from exc
        try:
            source = orjson.loads(registered.schema_str)
            row = _row_record(source)
            writer = WriterSchema(
                schema_id,
                fastavro.parse_schema(_strip_logical(source)),
                avro_record_types(row) if row else {},
                row,
            )
        except (orjson.JSONDecodeError, fastavro.schema.SchemaParseException, ValueError) as exc:
            raise DecodeError(
                "bad_schema", f"{where(raw)}: schema id {schema_id} is not Avro: {exc}"
            ) from exc
        self._cache[schema_id] = writer
        return writer


def _row_record(schema: Any) -> Mapping[str, Any] | None:
    if not isinstance(schema, Mapping):
        return None
    row = avro_envelope_row(schema)
    return row if row is not None else schema


def _strip_logical(schema: Any) -> Any:
    if isinstance(schema, list):
        return [_strip_logical(s) for s in schema]
    if isinstance(schema, dict):
        return {k: _strip_logical(v) for k, v in schema.items() if k != "logicalType"}
    return schema
