"""Column types derived from Kafka Connect (JSON converter) and Avro schemas.

The schema says how to read a column's wire value (decimal bytes and their
scale, a time unit); the mapping's declared type says what the column may
hold. A logical type from the schema is read as the schema says, under the
declared limits; a plain field (a string or double carrying a decimal, say)
takes the declared type. A schema decimal scale that contradicts the
declared one is refused when a value is read (``cdc.values``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import lru_cache
from typing import Any

from cdc.values import ColumnType, Limits

# Connect / Debezium logical names -> how to read the value.
LOGICAL: dict[str, ColumnType] = {
    "io.debezium.data.VariableScaleDecimal": ColumnType("decimal"),
    "io.debezium.time.Date": ColumnType("date"),
    "org.apache.kafka.connect.data.Date": ColumnType("date"),
    "io.debezium.time.Timestamp": ColumnType("timestamp", unit="ms"),
    "org.apache.kafka.connect.data.Timestamp": ColumnType("timestamp", unit="ms"),
    "io.debezium.time.MicroTimestamp": ColumnType("timestamp", unit="us"),
    "io.debezium.time.NanoTimestamp": ColumnType("timestamp", unit="ns"),
    "io.debezium.time.ZonedTimestamp": ColumnType("timestamp", unit="iso"),
    "io.debezium.time.Time": ColumnType("time", unit="ms"),
    "org.apache.kafka.connect.data.Time": ColumnType("time", unit="ms"),
    "io.debezium.time.MicroTime": ColumnType("time", unit="us"),
    "io.debezium.time.NanoTime": ColumnType("time", unit="ns"),
    "io.debezium.time.ZonedTime": ColumnType("time", unit="iso"),
}
DECIMAL = "org.apache.kafka.connect.data.Decimal"

# Plain Connect / Avro primitive types. Doubles are read as decimals: a PSA
# database has no float money columns, and decimal.handling.mode=double sends
# numerics as doubles.
PLAIN: dict[str, ColumnType] = {
    "boolean": ColumnType("bool"),
    "int8": ColumnType("int"),
    "int16": ColumnType("int"),
    "int32": ColumnType("int"),
    "int64": ColumnType("int"),
    "int": ColumnType("int"),
    "long": ColumnType("int"),
    "float32": ColumnType("decimal"),
    "float64": ColumnType("decimal"),
    "float": ColumnType("decimal"),
    "double": ColumnType("decimal"),
    "string": ColumnType("text"),
}


def logical_type(name: str | None, scale: Any) -> ColumnType | None:
    """The type a logical name stands for, or None for a plain field."""
    if name is None:
        return None
    if name == DECIMAL:
        return ColumnType("decimal", scale=None if scale is None else int(scale), encoding="bytes")
    return LOGICAL.get(name)


def under_declared(read: ColumnType, declared: ColumnType | None) -> ColumnType:
    """``read`` (from a schema) under the limits of the ``declared`` type."""
    if declared is None or declared.limits is None or read.kind not in ("decimal", "int"):
        return read
    return _with_limits(read, declared.limits)


@lru_cache(maxsize=1024)
def _with_limits(read: ColumnType, limits: Limits) -> ColumnType:
    return replace(read, limits=limits)


def connect_row_types(
    envelope_schema: Mapping[str, Any], fallback: Mapping[str, ColumnType] | None
) -> dict[str, ColumnType]:
    """Types of the before/after columns from a Connect envelope schema."""
    for field in envelope_schema.get("fields") or ():
        if field.get("field") in ("after", "before") and field.get("type") == "struct":
            return connect_struct_types(field, fallback)
    return dict(fallback or {})


def connect_struct_types(
    struct: Mapping[str, Any], fallback: Mapping[str, ColumnType] | None
) -> dict[str, ColumnType]:
    """Column types of a Connect struct schema; ``fallback`` fills plain fields."""
    types: dict[str, ColumnType] = {}
    for field in struct.get("fields") or ():
        name = field.get("field")
        params = field.get("parameters") or {}
        logical = logical_type(field.get("name"), params.get("scale"))
        if logical is not None:
            types[name] = under_declared(logical, fallback.get(name) if fallback else None)
        elif fallback and name in fallback:
            types[name] = fallback[name]
        elif field.get("type") in PLAIN:
            types[name] = PLAIN[field["type"]]
    return types


def avro_record_types(
    record: Mapping[str, Any], fallback: Mapping[str, ColumnType] | None = None
) -> dict[str, ColumnType]:
    """Column types of an Avro record schema written by the Connect Avro converter;
    ``fallback`` (the declared types) fills plain fields and limits logical ones,
    as for Connect JSON schemas."""
    types: dict[str, ColumnType] = dict(fallback or {})
    for field in record.get("fields") or ():
        name = field["name"]
        ftype = _non_null(field.get("type"))
        if isinstance(ftype, Mapping):
            params = ftype.get("connect.parameters") or {}
            scale = ftype.get("scale", params.get("scale"))
            logical = logical_type(ftype.get("connect.name"), scale)
            if logical is None and ftype.get("logicalType") == "decimal":
                logical = ColumnType("decimal", scale=int(scale or 0), encoding="bytes")
            if logical is not None:
                types[name] = under_declared(logical, fallback.get(name) if fallback else None)
                continue
            ftype = ftype.get("type")
        if fallback and name in fallback:
            continue
        if isinstance(ftype, str) and ftype in PLAIN:
            types[name] = PLAIN[ftype]
    return types


def avro_envelope_row(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The row record schema inside an Avro Debezium envelope (``before``/``after``)."""
    for field in schema.get("fields") or ():
        if field.get("name") in ("after", "before"):
            row = _non_null(field.get("type"))
            if isinstance(row, Mapping) and row.get("type") == "record":
                return row
    return None


def _non_null(ftype: Any) -> Any:
    if isinstance(ftype, list):
        rest = [t for t in ftype if t != "null"]
        return rest[0] if len(rest) == 1 else ftype
    return ftype
