"""Column types derived from Kafka Connect (JSON converter) and Avro schemas."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdc.values import ColumnType

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
            types[name] = logical
        elif fallback and name in fallback:
            types[name] = fallback[name]
        elif field.get("type") in PLAIN:
            types[name] = PLAIN[field["type"]]
    return types


def avro_record_types(record: Mapping[str, Any]) -> dict[str, ColumnType]:
    """Column types of an Avro record schema written by the Connect Avro converter."""
    types: dict[str, ColumnType] = {}
    for field in record.get("fields") or ():
        ftype = _non_null(field.get("type"))
        if isinstance(ftype, Mapping):
            params = ftype.get("connect.parameters") or {}
            scale = ftype.get("scale", params.get("scale"))
            logical = logical_type(ftype.get("connect.name"), scale)
            if logical is None and ftype.get("logicalType") == "decimal":
                logical = ColumnType("decimal", scale=int(scale or 0), encoding="bytes")
            if logical is not None:
                types[field["name"]] = logical
                continue
            ftype = ftype.get("type")
        if isinstance(ftype, str) and ftype in PLAIN:
            types[field["name"]] = PLAIN[ftype]
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
