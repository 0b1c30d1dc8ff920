"""Values are checked at the door against the mapping's declared types: a value
outside its column's NUMERIC(p,s) or CHECK bounds, a NaN, a schema scale that
contradicts the declared one, or a string holding NUL is refused with its
reason, whichever way the change event is encoded (schemaless JSON, JSON with
a Connect schema, Avro)."""

from __future__ import annotations

import copy
import io
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
from cdc_envelopes import KEY_SCHEMA, b64_decimal, envelope_schema, field, payload, raw, source
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from cdc.avro import AvroDecoder, wire_header
from cdc.envelope import decode_json
from cdc.errors import DecodeError
from cdc.mapping import SourceMapping
from cdc.records import ChangeEvent, RawRecord
from cdc.values import decimal_to_bytes

MAPPING = SourceMapping.load()
TYPES = MAPPING.column_types()
DECIMAL = "org.apache.kafka.connect.data.Decimal"
AT = "psa.public.time_entries[0]@7"
AVRO_DIR = Path(__file__).resolve().parents[3] / "avro"


def entry(**changes: Any) -> dict[str, Any]:
    """A time entry row as the JSON converter writes it with schemas.enable=false."""
    return {
        "id": "TE-9",
        "project_id": "PRJ-NW-1",
        "worker_id": "W-101",
        "role": "consultant",
        "work_date": "2026-01-12",
        "hours": "8.00",
        "billable": True,
        "notes": "workshop",
        "status": "approved",
        "approved_by": "pm.lee",
        "approved_at": "2026-01-13T17:00:00Z",
        "updated_at": "2026-01-13T17:00:00Z",
        **changes,
    }


def schemaless(row: dict[str, Any], **src: Any) -> RawRecord:
    return raw(payload("c", after=row, **src), key={"id": row.get("id", "TE-9")})


def decoded(record: RawRecord) -> dict[str, Any]:
    event = decode_json(record, column_types=TYPES)
    assert isinstance(event, ChangeEvent) and event.after is not None
    return event.after


def refused(record: RawRecord) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode_json(record, column_types=TYPES)
    assert "\x00" not in str(caught.value)  # the message itself is storable text
    return caught.value


# -- schemaless JSON: the declared type is all there is --------------------------


def test_schemaless_hours_of_1e30_are_out_of_range_naming_record_column_and_value() -> None:
    error = refused(schemaless(entry(hours="1E+30")))
    assert error.reason == "value_out_of_range"
    assert AT in error.detail and "'hours'" in error.detail and "1E+30" in error.detail
    assert "numeric(6,2)" in error.detail


def test_schemaless_hours_finer_than_the_declared_scale_are_refused_not_rounded() -> None:
    error = refused(schemaless(entry(hours="1.505")))
    assert error.reason == "bad_scale"
    assert "'hours'" in error.detail and "1.505" in error.detail


@pytest.mark.parametrize("hours", ["-8.00", "0", "0.00", "24.01", "10000"])
def test_hours_outside_the_check_constraint_are_out_of_range(hours: str) -> None:
    # time_entries.hours numeric(6,2) check (hours > 0 and hours <= 24)
    assert refused(schemaless(entry(hours=hours))).reason == "value_out_of_range"


@pytest.mark.parametrize("hours", ["24", "24.00", "0.01", "7.5", "8.00000"])
def test_hours_inside_the_declared_type_are_read_exactly(hours: str) -> None:
    assert decoded(schemaless(entry(hours=hours)))["hours"] == Decimal(hours)


@pytest.mark.parametrize("hours", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_hours_are_refused(hours: str) -> None:
    assert refused(schemaless(entry(hours=hours))).reason == "decimal_nan"


@pytest.mark.parametrize(
    "table, column, value, reason",
    [
        ("expense_items", "amount", "-86.40", "value_out_of_range"),
        ("expense_items", "amount", "1E+10", "value_out_of_range"),
        ("milestones", "amount", "0", "value_out_of_range"),
        ("milestones", "amount", "5000.001", "bad_scale"),
        ("rate_card_lines", "hourly_rate", "-0.01", "value_out_of_range"),
        ("rate_card_lines", "hourly_rate", "1E+10", "value_out_of_range"),
        ("assignments", "planned_hours", "-1", "value_out_of_range"),
        ("assignments", "planned_hours", "1000000", "value_out_of_range"),
    ],
)
def test_money_and_quantities_follow_their_numeric_type_and_check(
    table: str, column: str, value: str, reason: str
) -> None:
    record = raw(payload("c", after={"id": "X-1", column: value}, table=table), key={"id": "X-1"})
    error = refused(record)
    assert error.reason == reason and f"'{column}'" in error.detail and value in error.detail


def test_the_largest_values_the_reference_schema_allows_are_accepted() -> None:
    row = decoded(
        raw(
            payload("c", after={"id": "M", "amount": "999999999999.99"}, table="milestones"),
            key={"id": "M"},
        )
    )
    assert row["amount"] == Decimal("999999999999.99")


# -- JSON with a Connect schema: the schema says how to read, the mapping what fits


def with_schema(hours: Any, hours_field: dict[str, Any]) -> RawRecord:
    fields = [field("id", "string"), hours_field, field("notes", "string")]
    return raw(
        payload("c", after={"id": "TE-9", "hours": hours, "notes": "x"}),
        key={"id": "TE-9"},
        schema=envelope_schema(fields),
        key_schema=KEY_SCHEMA,
    )


def test_a_schema_scale_that_contradicts_the_declared_scale_is_refused_not_rescaled() -> None:
    # 8.00 hours written at scale 2 (unscaled 800) under a schema saying scale 5
    record = with_schema(b64_decimal("8.00", 2), field("hours", "bytes", DECIMAL, scale="5"))
    error = refused(record)
    assert error.reason == "bad_scale"
    assert "'hours'" in error.detail and "scale 5" in error.detail
    assert "numeric(6,2)" in error.detail and "0.00800" in error.detail


def test_connect_decimal_bytes_at_the_declared_scale_are_checked_for_range() -> None:
    ok = with_schema(b64_decimal("8.00", 2), field("hours", "bytes", DECIMAL, scale="2"))
    assert decoded(ok)["hours"] == Decimal("8.00")
    huge = with_schema(b64_decimal("1E+30", 2), field("hours", "bytes", DECIMAL, scale="2"))
    error = refused(huge)
    assert error.reason == "value_out_of_range" and "'hours'" in error.detail


@pytest.mark.parametrize(
    "wire, hours_field, reason",
    [
        (1e30, field("hours", "float64"), "value_out_of_range"),  # decimal.handling.mode=double
        (8.005, field("hours", "float64"), "bad_scale"),
        ("1E+30", field("hours", "string"), "value_out_of_range"),  # decimal.handling.mode=string
        ("1.505", field("hours", "string"), "bad_scale"),
        ("NaN", field("hours", "string"), "decimal_nan"),
    ],
)
def test_double_and_string_decimal_modes_are_checked_too(
    wire: Any, hours_field: dict[str, Any], reason: str
) -> None:
    assert refused(with_schema(wire, hours_field)).reason == reason


def test_variable_scale_decimals_are_checked_by_value() -> None:
    vsd = field("hours", "struct", "io.debezium.data.VariableScaleDecimal")
    fine = with_schema({"scale": 5, "value": b64_decimal("8.00000", 5)}, vsd)
    assert decoded(fine)["hours"] == Decimal("8")
    finer = with_schema({"scale": 3, "value": b64_decimal("1.505", 3)}, vsd)
    assert refused(finer).reason == "bad_scale"


def test_columns_the_mapping_does_not_declare_keep_their_full_precision() -> None:
    big = "12345678901234567890123456789012.34"
    record = raw(
        payload("c", after={"id": "TE-9", "budget": b64_decimal(big, 2)}),
        key={"id": "TE-9"},
        schema=envelope_schema(
            [field("id", "string"), field("budget", "bytes", DECIMAL, scale="2")]
        ),
    )
    assert str(decoded(record)["budget"]) == big


# -- NUL: PostgreSQL text cannot store it -------------------------------------------


def test_a_nul_in_a_schemaless_string_is_refused() -> None:
    error = refused(schemaless(entry(notes="call\x00me")))
    assert error.reason == "nul_byte"
    assert "'notes'" in error.detail and "\\x00" in error.detail


def test_a_nul_in_a_string_with_a_schema_is_refused() -> None:
    record = with_schema(b64_decimal("8.00", 2), field("hours", "bytes", DECIMAL, scale="2"))
    doc = orjson.loads(record.value or b"")
    doc["payload"]["after"]["notes"] = "\x00"
    error = refused(RawRecord(record.topic, 0, 7, record.key, orjson.dumps(doc)))
    assert error.reason == "nul_byte" and "'notes'" in error.detail


def test_a_nul_in_a_key_in_the_source_block_or_in_an_unmapped_table_is_refused() -> None:
    in_key = raw(payload("c", after=entry(id="TE\x009")), key={"id": "TE\x009"})
    assert refused(in_key).reason == "nul_byte"
    in_table = schemaless(entry(), table="time_entries\x00")
    assert refused(in_table).reason == "nul_byte"
    in_tx = raw(
        {**payload("c", after=entry()), "transaction": {"id": "7\x00", "total_order": 1}},
        key={"id": "TE-9"},
    )
    assert refused(in_tx).reason == "nul_byte"
    unmapped = schemaless({"id": "X", "text": ["a", "b\x00"]}, table="timesheets")
    assert refused(unmapped).reason == "nul_byte"


# -- Avro: the writer schema from the registry, the same declared types --------------


@pytest.fixture
def registry() -> SchemaRegistryClient:
    return SchemaRegistryClient.new_client({"url": "mock://"})


def avro_record(
    registry: SchemaRegistryClient, hours_type: Any, hours: Any, **row: Any
) -> RawRecord:
    """A time_entries change in the real AvroConverter schema (avro/), with the
    hours column's type replaced."""
    value_schema = orjson.loads((AVRO_DIR / "psa.public.time_entries-value.avsc").read_bytes())
    key_schema = orjson.loads((AVRO_DIR / "psa.public.time_entries-key.avsc").read_bytes())
    value_schema = copy.deepcopy(value_schema)
    row_schema = value_schema["fields"][0]["type"][1]
    for column in row_schema["fields"]:
        if column["name"] == "hours":
            column["type"] = hours_type
    ids = [
        registry.register_schema(subject, Schema(orjson.dumps(sch).decode(), "AVRO"))
        for subject, sch in (("te-key", key_schema), ("te-value", value_schema))
    ]
    after = {
        "id": "TE-9",
        "project_id": "PRJ-NW-1",
        "worker_id": "W-101",
        "role": "consultant",
        "work_date": 20465,
        "hours": hours,
        "billable": True,
        "notes": "workshop",
        "status": "approved",
        "approved_by": "pm.lee",
        "approved_at": "2026-01-13T17:00:00Z",
        "updated_at": "2026-01-13T17:00:00Z",
        **row,
    }
    doc = {"before": None, "after": after, "source": source(), "op": "c", "transaction": None}

    def frame(schema_id: int, schema: Any, datum: Any) -> bytes:
        out = io.BytesIO()
        out.write(wire_header(schema_id))
        fastavro.schemaless_writer(out, fastavro.parse_schema(schema), datum)
        return out.getvalue()

    return RawRecord(
        "psa.public.time_entries",
        0,
        7,
        frame(ids[0], key_schema, {"id": "TE-9"}),
        frame(ids[1], value_schema, doc),
    )


def avro_decimal(scale: int) -> dict[str, Any]:
    return {
        "type": "bytes",
        "connect.version": 1,
        "connect.parameters": {"scale": str(scale), "connect.decimal.precision": "6"},
        "connect.name": DECIMAL,
        "scale": scale,
        "precision": 6,
        "logicalType": "decimal",
    }


def avro_refused(registry: SchemaRegistryClient, record: RawRecord) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        AvroDecoder(registry, column_types=TYPES).decode(record)
    assert AT in caught.value.detail
    return caught.value


def test_avro_hours_at_the_declared_scale_decode_and_out_of_range_ones_are_refused(
    registry: SchemaRegistryClient,
) -> None:
    good = avro_record(registry, avro_decimal(2), decimal_to_bytes(Decimal("8.00"), 2))
    event = AvroDecoder(registry, column_types=TYPES).decode(good)
    assert isinstance(event, ChangeEvent) and event.after is not None
    assert event.after["hours"] == Decimal("8.00")
    huge = avro_record(registry, avro_decimal(2), decimal_to_bytes(Decimal("1E+30"), 2))
    assert avro_refused(registry, huge).reason == "value_out_of_range"


def test_an_avro_schema_scale_that_contradicts_the_declared_scale_is_refused(
    registry: SchemaRegistryClient,
) -> None:
    record = avro_record(registry, avro_decimal(5), decimal_to_bytes(Decimal("8.00"), 2))
    error = avro_refused(registry, record)
    assert error.reason == "bad_scale" and "scale 5" in error.detail


def test_avro_string_mode_decimals_take_the_declared_type(registry: SchemaRegistryClient) -> None:
    # decimal.handling.mode=string: a plain Avro string; the mapping says decimal(6,2)
    record = avro_record(registry, "string", "1.505")
    assert avro_refused(registry, record).reason == "bad_scale"
    fine = avro_record(registry, "string", "7.50")
    event = AvroDecoder(registry, column_types=TYPES).decode(fine)
    assert isinstance(event, ChangeEvent) and event.after is not None
    assert event.after["hours"] == Decimal("7.50")


def test_a_nul_in_an_avro_string_is_refused(registry: SchemaRegistryClient) -> None:
    record = avro_record(registry, avro_decimal(2), decimal_to_bytes(Decimal("8"), 2), notes="\x00")
    error = avro_refused(registry, record)
    assert error.reason == "nul_byte" and "'notes'" in error.detail
