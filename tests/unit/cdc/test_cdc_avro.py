"""Avro in the Confluent wire format, with confluent-kafka's in-memory registry."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import fastavro
import orjson
import pytest
from cdc_envelopes import source
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from cdc.avro import AvroDecoder, wire_header
from cdc.errors import DecodeError
from cdc.records import ChangeEvent, RawRecord, Tombstone, TransactionMarker
from cdc.values import decimal_to_bytes

NS = "psa.public.time_entries"
DECIMAL = {
    "type": "bytes",
    "scale": 2,
    "precision": 6,
    "connect.version": 1,
    "connect.parameters": {"scale": "2", "connect.decimal.precision": "6"},
    "connect.name": "org.apache.kafka.connect.data.Decimal",
    "logicalType": "decimal",
}
VALUE_ROW = {
    "type": "record",
    "name": "Value",
    "namespace": NS,
    "fields": [
        {"name": "id", "type": "string"},
        {
            "name": "work_date",
            "type": {"type": "int", "connect.version": 1, "connect.name": "io.debezium.time.Date"},
        },
        {"name": "hours", "type": DECIMAL},
        {
            "name": "rate",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "VariableScaleDecimal",
                    "namespace": "io.debezium.data",
                    "connect.name": "io.debezium.data.VariableScaleDecimal",
                    "fields": [
                        {"name": "scale", "type": "int"},
                        {"name": "value", "type": "bytes"},
                    ],
                },
            ],
            "default": None,
        },
        {"name": "billable", "type": "boolean"},
        {
            "name": "approved_at",
            "type": [
                "null",
                {
                    "type": "string",
                    "connect.version": 1,
                    "connect.name": "io.debezium.time.ZonedTimestamp",
                },
            ],
            "default": None,
        },
    ],
}
SOURCE = {
    "type": "record",
    "name": "Source",
    "namespace": "io.debezium.connector.postgresql",
    "fields": [
        {"name": "version", "type": "string"},
        {"name": "connector", "type": "string"},
        {"name": "name", "type": "string"},
        {"name": "ts_ms", "type": "long"},
        {
            "name": "snapshot",
            "type": ["null", {"type": "string", "connect.name": "io.debezium.data.Enum"}],
        },
        {"name": "db", "type": "string"},
        {"name": "schema", "type": "string"},
        {"name": "table", "type": "string"},
        {"name": "txId", "type": ["null", "long"]},
        {"name": "lsn", "type": ["null", "long"]},
    ],
}
ENVELOPE = {
    "type": "record",
    "name": "Envelope",
    "namespace": NS,
    "fields": [
        {"name": "before", "type": ["null", VALUE_ROW], "default": None},
        {"name": "after", "type": ["null", f"{NS}.Value"], "default": None},
        {"name": "source", "type": SOURCE},
        {"name": "op", "type": "string"},
        {"name": "ts_ms", "type": ["null", "long"], "default": None},
        {
            "name": "transaction",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "block",
                    "namespace": "event",
                    "fields": [
                        {"name": "id", "type": "string"},
                        {"name": "total_order", "type": "long"},
                        {"name": "data_collection_order", "type": "long"},
                    ],
                },
            ],
            "default": None,
        },
    ],
}
KEY = {
    "type": "record",
    "name": "Key",
    "namespace": NS,
    "fields": [{"name": "id", "type": "string"}],
}
MARKER = {
    "type": "record",
    "name": "TransactionMetadataValue",
    "namespace": "io.debezium.connector.common",
    "fields": [
        {"name": "status", "type": "string"},
        {"name": "id", "type": "string"},
        {"name": "event_count", "type": ["null", "long"]},
        {
            "name": "data_collections",
            "type": [
                "null",
                {
                    "type": "array",
                    "items": {
                        "type": "record",
                        "name": "ConnectDefault",
                        "namespace": "io.confluent.connect.avro",
                        "fields": [
                            {"name": "data_collection", "type": "string"},
                            {"name": "event_count", "type": "long"},
                        ],
                    },
                },
            ],
        },
        {"name": "ts_ms", "type": "long"},
    ],
}


@pytest.fixture
def registry() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": "mock://"})


def register(registry: SchemaRegistryClient, subject: str, schema: dict[str, Any]) -> int:
    schema_id: int = registry.register_schema(
        subject, Schema(orjson.dumps(schema).decode(), "AVRO")
    )
    return schema_id


def encode(schema_id: int, schema: dict[str, Any], doc: dict[str, Any]) -> bytes:
    out = io.BytesIO()
    out.write(wire_header(schema_id))
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), doc)
    return out.getvalue()


ROW = {
    "id": "t1",
    "work_date": 20150,
    "hours": decimal_to_bytes(Decimal("7.50"), 2),
    "rate": {"scale": 3, "value": decimal_to_bytes(Decimal("150.125"), 3)},
    "billable": True,
    "approved_at": "2026-11-29T07:58:13.985964Z",
}


def envelope(op: str, before: Any = None, after: Any = None) -> dict[str, Any]:
    return {
        "before": before,
        "after": after,
        "source": source(),
        "op": op,
        "ts_ms": 1767612191100,
        "transaction": {"id": "742:26570168", "total_order": 1, "data_collection_order": 1},
    }


def record(registry: SchemaRegistryClient, value: dict[str, Any] | None) -> RawRecord:
    key_id = register(registry, f"{NS}-key", KEY)
    value_id = register(registry, f"{NS}-value", ENVELOPE)
    data = None if value is None else encode(value_id, ENVELOPE, value)
    return RawRecord(NS, 0, 3, encode(key_id, KEY, {"id": "t1"}), data)


def test_an_avro_update_decodes_to_the_same_values_as_json(registry: SchemaRegistryClient) -> None:
    event = AvroDecoder(registry).decode(record(registry, envelope("u", before=ROW, after=ROW)))
    assert isinstance(event, ChangeEvent)
    assert event.op == "u" and event.key == {"id": "t1"}
    assert event.after == {
        "id": "t1",
        "work_date": date(2025, 3, 3),
        "hours": Decimal("7.50"),
        "rate": Decimal("150.125"),
        "billable": True,
        "approved_at": datetime(2026, 11, 29, 7, 58, 13, 985964, tzinfo=UTC),
    }
    assert event.before == event.after
    assert (event.lsn, event.tx_id, event.snapshot, event.table) == (
        26570168,
        "742",
        "false",
        "time_entries",
    )
    assert event.transaction is not None and event.transaction.total_order == 1


def test_schemas_are_fetched_once_per_id(registry: SchemaRegistryClient) -> None:
    calls: list[int] = []

    class Counting:
        def get_schema(self, schema_id: int) -> Any:
            calls.append(schema_id)
            return registry.get_schema(schema_id)

    decoder = AvroDecoder(Counting())
    raw = record(registry, envelope("c", after=ROW))
    decoder.decode(raw)
    decoder.decode(raw)
    assert sorted(calls) == sorted(set(calls)) and len(calls) == 2


def test_an_avro_tombstone_keeps_its_key(registry: SchemaRegistryClient) -> None:
    decoded = AvroDecoder(registry).decode(record(registry, None))
    assert decoded == Tombstone({"id": "t1"}, decoded.raw)


def test_an_avro_transaction_marker(registry: SchemaRegistryClient) -> None:
    marker_id = register(registry, "psa.transaction-value", MARKER)
    doc = {
        "status": "END",
        "id": "742:1",
        "event_count": 2,
        "ts_ms": 1,
        "data_collections": [{"data_collection": "public.time_entries", "event_count": 2}],
    }
    decoded = AvroDecoder(registry).decode(
        RawRecord("psa.transaction", 0, 0, None, encode(marker_id, MARKER, doc))
    )
    assert isinstance(decoded, TransactionMarker)
    assert decoded.data_collections == (("public.time_entries", 2),)


def reason(registry: SchemaRegistryClient, raw: RawRecord) -> str:
    with pytest.raises(DecodeError) as caught:
        AvroDecoder(registry).decode(raw)
    assert f"{raw.topic}[0]@3" in caught.value.detail
    return caught.value.reason


def test_bad_avro_inputs_raise_decode_errors(registry: SchemaRegistryClient) -> None:
    good = record(registry, envelope("c", after=ROW))
    assert good.value is not None and good.key is not None
    assert (
        reason(registry, RawRecord(NS, 0, 3, good.key, b"\x01" + good.value[1:]))
        == "bad_magic_byte"
    )
    assert (
        reason(registry, RawRecord(NS, 0, 3, good.key, wire_header(999) + good.value[5:]))
        == "unknown_schema_id"
    )
    assert reason(registry, RawRecord(NS, 0, 3, good.key, good.value[:-10])) == "truncated_avro"
    assert reason(registry, RawRecord(NS, 0, 3, good.key, good.value[:3])) == "truncated_avro"
    assert reason(registry, RawRecord(NS, 0, 3, None, good.value)) == "null_key"
