"""Debezium envelopes -> ChangeEvent / TransactionMarker / Heartbeat / Tombstone.

``envelope_from_dict`` is the one place that turns an envelope (parsed from
JSON or Avro) into records; ``decode_json`` handles the Kafka Connect JSON
converter's output, with or without the ``{"schema", "payload"}`` wrapper.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, cast, get_args

import orjson

from cdc.connect_json import SchemaMemo
from cdc.errors import DecodeError
from cdc.kcat import parse_kcat_line
from cdc.records import (
    ChangeEvent,
    Decoded,
    Heartbeat,
    Op,
    RawRecord,
    Tombstone,
    TransactionMarker,
    TransactionRef,
)
from cdc.schema_types import connect_row_types, connect_struct_types
from cdc.values import ColumnType, ColumnTypes, convert_row, refuse_nul, shown

__all__ = ["ColumnType", "ColumnTypes", "decode_json", "envelope_from_dict", "parse_kcat_line"]

HEARTBEAT_PREFIX = "__debezium-heartbeat."
_OPS = frozenset(get_args(Op))
_ROW_OPS = frozenset({"c", "u", "d", "r"})
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def where(raw: RawRecord) -> str:
    """A record position for error details."""
    return f"{raw.topic}[{raw.partition}]@{raw.offset}"


def is_heartbeat(raw: RawRecord) -> bool:
    return raw.topic.startswith(HEARTBEAT_PREFIX)


def table_types(
    column_types: ColumnTypes | None, schema: str | None, table: str | None
) -> Mapping[str, ColumnType] | None:
    """Look up ``column_types`` by ``schema.table``, then by ``table``."""
    if not column_types or table is None:
        return None
    return column_types.get(f"{schema}.{table}") or column_types.get(table)


def envelope_from_dict(
    payload: Any,
    raw: RawRecord,
    *,
    key: Mapping[str, Any] | None,
    row_types: Mapping[str, ColumnType] | None = None,
) -> ChangeEvent | TransactionMarker:
    """Build a record from a parsed (already unwrapped) envelope payload.

    ``key`` must already be converted; ``row_types`` drives value conversion
    of ``before``/``after``.
    """
    at = where(raw)
    if not isinstance(payload, Mapping):
        raise DecodeError("not_an_envelope", f"{at}: value is not a JSON object")
    if "op" not in payload:
        if payload.get("status") in ("BEGIN", "END") and "id" in payload:
            return _marker(payload, raw)
        raise DecodeError("missing_field", f"{at}: envelope has no 'op'")
    op = payload["op"]
    if op not in _OPS:
        raise DecodeError("bad_value", f"{at}: unknown op {shown(op)}")
    source = payload.get("source")
    if not isinstance(source, Mapping):
        raise DecodeError("missing_field", f"{at}: envelope has no 'source'")
    if op in _ROW_OPS and key is None:
        raise DecodeError("null_key", f"{at}: {op!r} change on a table topic without a key")
    before, after = payload.get("before"), payload.get("after")
    if op == "m":
        after = payload.get("message")
    return ChangeEvent(
        topic=raw.topic,
        schema=_opt_str(source.get("schema"), f"{at} source.schema"),
        table=_opt_str(source.get("table"), f"{at} source.table"),
        op=cast(Op, op),
        key=dict(key) if key is not None else None,
        before=_row(before, row_types, f"{at} before"),
        after=_row(after, row_types, f"{at} after"),
        lsn=_opt_int(source.get("lsn"), f"{at} source.lsn"),
        tx_id=_opt_str(source.get("txId"), f"{at} source.txId"),
        commit_time=_ts_ms(source.get("ts_ms"), f"{at} source.ts_ms"),
        snapshot=_snapshot(source.get("snapshot"), f"{at} source.snapshot"),
        connector=_opt_str(source.get("connector"), f"{at} source.connector"),
        database=_opt_str(source.get("db"), f"{at} source.db"),
        transaction=_transaction(payload.get("transaction"), at),
        raw=raw,
    )


def decode_json(
    raw: RawRecord, *, column_types: ColumnTypes | None = None, memo: SchemaMemo | None = None
) -> Decoded:
    """Decode a Kafka Connect JSON converter record (`memo`: the decoder's
    schemas seen before, so that a record parses only its payload)."""
    if is_heartbeat(raw):
        return Heartbeat(raw)
    key_schema, key_payload, key_head = _document(raw.key, raw, "key", memo)
    if raw.value is None:
        return Tombstone(_key(key_schema, key_payload, None, raw), raw)
    schema, payload, head = _document(raw.value, raw, "value", memo)
    if isinstance(payload, Mapping) and "op" in payload:
        source = payload.get("source")
        src = source if isinstance(source, Mapping) else {}
        names = (src.get("schema"), src.get("table"))
        fallback = table_types(column_types, *names)

        def row_types() -> Mapping[str, ColumnType] | None:
            return connect_row_types(schema, fallback) if schema else fallback

        def key_types() -> Mapping[str, ColumnType] | None:
            return connect_struct_types(key_schema, fallback) if key_schema else fallback

        if memo is not None and head is not None:
            types = memo.types(("value", head, *names), row_types)
        else:
            types = row_types()
        if memo is not None and key_head is not None:
            key = _key_row(key_payload, memo.types(("key", key_head, *names), key_types), raw)
        else:
            key = _key(key_schema, key_payload, fallback, raw)
        return envelope_from_dict(payload, raw, key=key, row_types=types)
    return envelope_from_dict(payload, raw, key=None)


def _document(
    data: bytes | None, raw: RawRecord, part: str, memo: SchemaMemo | None
) -> tuple[Mapping[str, Any] | None, Any, bytes | None]:
    """(schema, payload, the schema's bytes when the memo knows them)."""
    if memo is not None and data is not None:
        hit = memo.split(data)
        if hit is not None:
            return hit[1], hit[2], hit[0]
    doc = _loads(data, raw, part)
    schema, payload = _unwrap(doc)
    head = memo.learn(data, doc) if memo is not None and data is not None else None
    return schema, payload, head


def _loads(data: bytes | None, raw: RawRecord, part: str) -> Any:
    if data is None:
        return None
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("non_utf8", f"{where(raw)}: {part} is not UTF-8") from exc
        raise DecodeError("malformed_json", f"{where(raw)}: {part} is not JSON: {exc}") from exc


def _unwrap(doc: Any) -> tuple[Mapping[str, Any] | None, Any]:
    if isinstance(doc, Mapping) and doc.keys() == {"schema", "payload"}:
        schema = doc["schema"]
        return (schema if isinstance(schema, Mapping) else None), doc["payload"]
    return None, doc


def _key(
    schema: Mapping[str, Any] | None,
    payload: Any,
    fallback: Mapping[str, ColumnType] | None,
    raw: RawRecord,
) -> dict[str, Any] | None:
    types = connect_struct_types(schema, fallback) if schema else fallback
    return _key_row(payload, types, raw)


def _key_row(
    payload: Any, types: Mapping[str, ColumnType] | None, raw: RawRecord
) -> dict[str, Any] | None:
    if payload is None:
        return None
    if not isinstance(payload, Mapping):
        raise DecodeError("not_an_envelope", f"{where(raw)}: key is not a JSON object")
    return convert_row(payload, types, f"{where(raw)} key")


def _row(row: Any, types: Mapping[str, ColumnType] | None, at: str) -> dict[str, Any] | None:
    if row is None:
        return None
    if not isinstance(row, Mapping):
        raise DecodeError("not_an_envelope", f"{at}: row is not an object")
    return convert_row(row, types, at)


def _marker(payload: Mapping[str, Any], raw: RawRecord) -> TransactionMarker:
    at = where(raw)
    collections = []
    for item in payload.get("data_collections") or ():
        try:
            collections.append((str(item["data_collection"]), int(item["event_count"])))
        except (KeyError, TypeError, ValueError) as exc:
            raise DecodeError(
                "missing_field", f"{at}: bad data_collections entry {shown(item)}"
            ) from exc
        refuse_nul(collections[-1][0], f"{at} data_collection")
    return TransactionMarker(
        status=payload["status"],
        tx_id=_str(payload["id"], f"{at} id"),
        event_count=_opt_int(payload.get("event_count"), f"{where(raw)} event_count"),
        data_collections=tuple(collections),
        raw=raw,
    )


def _transaction(block: Any, at: str) -> TransactionRef | None:
    if not isinstance(block, Mapping) or block.get("id") is None:
        return None
    return TransactionRef(
        id=_str(block["id"], f"{at} transaction.id"),
        total_order=_opt_int(block.get("total_order"), f"{at} transaction.total_order"),
        data_collection_order=_opt_int(
            block.get("data_collection_order"), f"{at} transaction.data_collection_order"
        ),
    )


def _snapshot(value: Any, at: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return _str(value, at)


def _opt_str(value: Any, at: str) -> str | None:
    return None if value is None else _str(value, at)


def _str(value: Any, at: str) -> str:
    """A source string; NUL is refused (it would reach text columns and messages)."""
    text = str(value)
    if "\x00" in text:
        refuse_nul(text, at)
    return text


def _opt_int(value: Any, at: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise DecodeError("bad_value", f"{at}: {shown(value)} is not an integer") from exc


def _ts_ms(value: Any, at: str) -> datetime | None:
    ms = _opt_int(value, at)
    return None if ms is None else _UTC_EPOCH + timedelta(milliseconds=ms)
