"""Typed value conversion: every decimal mode and the Debezium time types."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
from cdc_envelopes import b64_decimal, envelope_schema, field, payload, raw
from hypothesis import given
from hypothesis import strategies as st

from cdc.envelope import decode_json
from cdc.errors import DecodeError
from cdc.records import UNAVAILABLE, ChangeEvent
from cdc.values import (
    PLACEHOLDER,
    RAW,
    ColumnType,
    Limits,
    convert,
    convert_row,
    decimal_from_bytes,
    decimal_to_bytes,
)

DECIMAL = "org.apache.kafka.connect.data.Decimal"


def after(
    fields: list[dict[str, object]], row: dict[str, object], **kw: object
) -> dict[str, object]:
    record = decode_json(
        raw(payload("c", after=row), key={"id": "1"}, schema=envelope_schema(fields)), **kw
    )  # type: ignore[arg-type]
    assert isinstance(record, ChangeEvent) and record.after is not None
    return record.after


def test_precise_mode_decodes_connect_decimal_bytes_exactly() -> None:
    row = after([field("a", "bytes", DECIMAL, scale="2")], {"a": "OrE="})
    assert row["a"] == Decimal("150.25")
    neg = after([field("a", "bytes", DECIMAL, scale="2")], {"a": b64_decimal("-0.01", 2)})
    assert str(neg["a"]) == "-0.01"


def test_precise_mode_keeps_more_digits_than_a_float_or_the_default_context() -> None:
    big = "12345678901234567890123456789012.34"
    row = after([field("a", "bytes", DECIMAL, scale="2")], {"a": b64_decimal(big, 2)})
    assert str(row["a"]) == big


def test_variable_scale_decimals_carry_their_own_scale() -> None:
    vsd = field("a", "struct", "io.debezium.data.VariableScaleDecimal")
    row = after([vsd], {"a": {"scale": 3, "value": b64_decimal("1.234", 3)}})
    assert row["a"] == Decimal("1.234")


def test_string_mode_decimals_are_read_as_decimals_when_column_types_say_so() -> None:
    types = {"time_entries": {"a": ColumnType("decimal", encoding="string")}}
    row = after([field("a", "string")], {"a": "150.25"}, column_types=types)
    assert row["a"] == Decimal("150.25")
    assert after([field("a", "string")], {"a": "150.25"})["a"] == "150.25"


def test_double_mode_goes_through_str_not_binary_float() -> None:
    row = after([field("a", "float64")], {"a": 0.1})
    assert row["a"] == Decimal("0.1")


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_not_a_number_decimals_are_refused(value: str) -> None:
    with pytest.raises(DecodeError) as caught:
        after([field("a", "float64")], {"a": value})
    assert caught.value.reason == "decimal_nan"
    assert "column 'a'" in caught.value.detail
    with pytest.raises(DecodeError) as caught:
        convert(value, ColumnType("decimal", encoding="string"), "here")
    assert caught.value.reason == "decimal_nan"
    with pytest.raises(DecodeError) as caught:
        convert(float(value), ColumnType("decimal"), "here")
    assert caught.value.reason == "decimal_nan"


def test_bare_decimals_accept_base64_with_a_scale_and_plain_numeric_strings() -> None:
    with_scale = ColumnType("decimal", scale=2)
    assert convert("OrE=", with_scale, "x") == Decimal("150.25")
    assert convert("150.25", with_scale, "x") == Decimal("150.25")
    assert convert("-3", ColumnType("decimal"), "x") == Decimal("-3")
    with pytest.raises(DecodeError) as caught:
        convert("OrE=", ColumnType("decimal"), "x")
    assert caught.value.reason == "missing_scale"


def test_bad_base64_is_a_decode_error() -> None:
    with pytest.raises(DecodeError) as caught:
        convert("!!!", ColumnType("decimal", scale=2), "x")
    assert caught.value.reason == "bad_value"


@pytest.mark.parametrize(
    "logical, ftype, wire, expected",
    [
        ("io.debezium.time.Date", "int32", 20150, date(2025, 3, 3)),
        ("org.apache.kafka.connect.data.Date", "int32", 0, date(1970, 1, 1)),
        (
            "io.debezium.time.Timestamp",
            "int64",
            1767612191123,
            datetime(2026, 1, 5, 11, 23, 11, 123000, tzinfo=UTC),
        ),
        (
            "org.apache.kafka.connect.data.Timestamp",
            "int64",
            1000,
            datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC),
        ),
        (
            "io.debezium.time.MicroTimestamp",
            "int64",
            1767612191123456,
            datetime(2026, 1, 5, 11, 23, 11, 123456, tzinfo=UTC),
        ),
        (
            "io.debezium.time.NanoTimestamp",
            "int64",
            1767612191123456789,
            datetime(2026, 1, 5, 11, 23, 11, 123456, tzinfo=UTC),
        ),
        (
            "io.debezium.time.ZonedTimestamp",
            "string",
            "2026-01-05T12:23:11.5+01:00",
            datetime(2026, 1, 5, 11, 23, 11, 500000, tzinfo=UTC),
        ),
        ("io.debezium.time.MicroTime", "int64", 3_723_000_001, time(1, 2, 3, 1)),
        ("io.debezium.time.Time", "int32", 3_723_004, time(1, 2, 3, 4000)),
        ("org.apache.kafka.connect.data.Time", "int32", 1, time(0, 0, 0, 1000)),
        ("io.debezium.time.NanoTime", "int64", 3_723_000_001_000, time(1, 2, 3, 1)),
        (None, "boolean", False, False),
        (None, "int64", 42, 42),
        (None, "string", "x", "x"),
    ],
)
def test_time_and_plain_types_follow_the_connect_schema(
    logical: str | None, ftype: str, wire: object, expected: object
) -> None:
    assert after([field("a", ftype, logical)], {"a": wire})["a"] == expected


def test_zoned_timestamps_are_aware_utc() -> None:
    value = after(
        [field("a", "string", "io.debezium.time.ZonedTimestamp")], {"a": "2026-01-05T11:23:11Z"}
    )["a"]
    assert isinstance(value, datetime) and value.utcoffset() is not None


def test_nulls_stay_null() -> None:
    assert after([field("a", "bytes", DECIMAL, scale="2")], {"a": None})["a"] is None


@given(
    st.decimals(
        allow_nan=False, allow_infinity=False, places=4, min_value=-(10**20), max_value=10**20
    )
)
def test_connect_decimal_bytes_round_trip(value: Decimal) -> None:
    assert decimal_from_bytes(decimal_to_bytes(value, 4), 4) == value


@given(st.integers(min_value=-(2**200), max_value=2**200), st.integers(min_value=0, max_value=30))
def test_unscaled_integers_round_trip_exactly(unscaled: int, scale: int) -> None:
    value = Decimal(f"{unscaled}E-{scale}")
    decoded = decimal_from_bytes(decimal_to_bytes(value, scale), scale)
    assert decoded == value and decoded.as_tuple().exponent == -scale


ROW_TYPES = {
    "note": ColumnType("text"),
    "amount": ColumnType("decimal", encoding="string", limits=Limits(10, 2)),
    "day": ColumnType("date"),
    "gone": ColumnType("text"),
    "count": ColumnType("int"),
}


def test_a_row_converts_as_its_columns_do_one_at_a_time() -> None:
    row = {
        "note": "as is",
        "amount": "12.50",
        "day": 19000,
        "gone": PLACEHOLDER,
        "count": None,
        "undeclared": "kept",
    }
    converted = convert_row(row, ROW_TYPES, "r")
    assert converted == {k: convert(v, ROW_TYPES.get(k, RAW), "r") for k, v in row.items()}
    assert converted["gone"] is UNAVAILABLE and converted["amount"] == Decimal("12.50")


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("note", "a\x00b", "nul_byte"),
        ("amount", "12.505", "bad_scale"),
        ("day", "soon", "bad_value"),
    ],
)
def test_a_refused_value_names_its_row_and_column(column: str, value: str, reason: str) -> None:
    row = {"note": "ok", "amount": "1.00", "day": 19000, column: value}
    with pytest.raises(DecodeError) as caught:
        convert_row(row, ROW_TYPES, "psa.public.t[0@7] after")
    assert caught.value.reason == reason
    assert caught.value.detail.startswith(f"psa.public.t[0@7] after column '{column}': ")
