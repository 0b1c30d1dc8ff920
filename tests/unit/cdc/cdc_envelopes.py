"""Builders for Debezium JSON envelopes as the Kafka Connect JSON converter writes them."""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import orjson

from cdc.records import RawRecord
from cdc.values import decimal_to_bytes

TOPIC = "psa.public.time_entries"


def b64_decimal(value: str, scale: int) -> str:
    return base64.b64encode(decimal_to_bytes(Decimal(value), scale)).decode()


def field(name: str, ftype: str, logical: str | None = None, **params: str) -> dict[str, Any]:
    out: dict[str, Any] = {"type": ftype, "optional": True, "field": name}
    if logical:
        out["name"] = logical
    if params:
        out["parameters"] = params
    return out


ROW_FIELDS = [
    field("id", "string"),
    field("work_date", "int32", "io.debezium.time.Date"),
    field("hours", "bytes", "org.apache.kafka.connect.data.Decimal", scale="2"),
    field("billable", "boolean"),
    field("approved_at", "string", "io.debezium.time.ZonedTimestamp"),
]


def envelope_schema(row_fields: list[dict[str, Any]]) -> dict[str, Any]:
    row = {"type": "struct", "fields": row_fields, "optional": True, "name": f"{TOPIC}.Value"}
    return {
        "type": "struct",
        "name": f"{TOPIC}.Envelope",
        "fields": [
            {**row, "field": "before"},
            {**row, "field": "after"},
            {"type": "struct", "fields": [], "optional": False, "field": "source"},
            {"type": "string", "optional": False, "field": "op"},
        ],
    }


def source(**over: Any) -> dict[str, Any]:
    src: dict[str, Any] = {
        "version": "3.6.3.Final",
        "connector": "postgresql",
        "name": "psa",
        "ts_ms": 1767612191000,
        "snapshot": "false",
        "db": "psa",
        "schema": "public",
        "table": "time_entries",
        "txId": 742,
        "lsn": 26570168,
    }
    src.update(over)
    return src


def payload(op: str = "c", before: Any = None, after: Any = None, **src: Any) -> dict[str, Any]:
    return {
        "before": before,
        "after": after,
        "source": source(**src),
        "transaction": {"id": "742:26570168", "total_order": 1, "data_collection_order": 1},
        "op": op,
        "ts_ms": 1767612191100,
    }


KEY_SCHEMA = {
    "type": "struct",
    "fields": [{"type": "string", "optional": False, "field": "id"}],
    "optional": False,
    "name": f"{TOPIC}.Key",
}


def raw(
    value: Any,
    *,
    key: Any = None,
    topic: str = TOPIC,
    schema: dict[str, Any] | None = None,
    key_schema: dict[str, Any] | None = None,
    offset: int = 7,
) -> RawRecord:
    """A RawRecord; ``value``/``key`` wrapped when a schema is given, bytes passed through."""

    def encode(doc: Any, sch: dict[str, Any] | None) -> bytes | None:
        if doc is None or isinstance(doc, bytes):
            return doc
        return orjson.dumps({"schema": sch, "payload": doc} if sch is not None else doc)

    return RawRecord(topic, 0, offset, encode(key, key_schema), encode(value, schema))
