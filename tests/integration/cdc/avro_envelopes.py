"""Debezium Avro envelopes from Debezium JSON ones, as Confluent's AvroConverter writes them.

``avro_schema(connect)`` turns a Kafka Connect schema (the ``schema`` of a
JSON-converter record) into the Avro schema the AvroConverter registers
(``connect.name``, ``connect.parameters``, decimal logical types, optional
fields as ``["null", T]`` unions). ``avro_datum`` converts the JSON payload
to the matching Avro datum. The schemas of the reference PSA's topics are
kept in avro/ (regenerate: python tests/integration/cdc/avro_envelopes.py).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import fastavro
import orjson

from cdc.avro import wire_header

AVRO_DIR = Path(__file__).resolve().parents[3] / "avro"
PRIMITIVE = {
    "string": "string",
    "int8": "int",
    "int16": "int",
    "int32": "int",
    "int64": "long",
    "boolean": "boolean",
    "float32": "float",
    "float64": "double",
    "bytes": "bytes",
}
DECIMAL = "org.apache.kafka.connect.data.Decimal"


def avro_schema(connect: dict[str, Any], defined: set[str] | None = None) -> Any:
    """The Avro schema for one Connect schema (a field's type, or a whole record);
    a record named twice is referenced by name the second time."""
    defined = set() if defined is None else defined
    if connect["type"] == "struct":
        fullname = str(connect.get("name", "ConnectDefault"))
        if fullname in defined:
            return fullname
        defined.add(fullname)
        namespace, _, name = fullname.rpartition(".")
        record: dict[str, Any] = {"type": "record", "name": name, "fields": []}
        if namespace:
            record["namespace"] = namespace
        for field in connect["fields"]:
            ftype = avro_schema(field, defined)
            entry: dict[str, Any] = {"name": field["field"]}
            if field.get("optional"):
                entry["type"] = ["null", ftype]
                entry["default"] = None
            else:
                entry["type"] = ftype
                if "default" in field:
                    entry["default"] = field["default"]
            record["fields"].append(entry)
        if connect.get("name"):
            record["connect.name"] = connect["name"]
        return record
    if connect["type"] == "array":
        return {"type": "array", "items": avro_schema(connect["items"], defined)}
    base: dict[str, Any] = {"type": PRIMITIVE[connect["type"]]}
    name = connect.get("name")
    if name is None:
        return base["type"]
    if "version" in connect:
        base["connect.version"] = connect["version"]
    if connect.get("parameters"):
        base["connect.parameters"] = dict(connect["parameters"])
    base["connect.name"] = name
    if name == DECIMAL:
        params = connect["parameters"]
        base["scale"] = int(params["scale"])
        base["precision"] = int(params.get("connect.decimal.precision", 38))
        base["logicalType"] = "decimal"
    return base


def avro_datum(schema: Any, value: Any, named: dict[str, Any] | None = None) -> Any:
    """The JSON-converter payload ``value`` as a datum of ``schema``."""
    if named is None:
        named = {}
        _collect(schema, named)
    if value is None:
        return None
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):
        return avro_datum(next(s for s in schema if s != "null"), value, named)
    if isinstance(schema, dict):
        kind = schema["type"]
        if kind == "record":
            return {
                f["name"]: avro_datum(f["type"], value.get(f["name"]), named)
                for f in schema["fields"]
            }
        if kind == "array":
            return [avro_datum(schema["items"], v, named) for v in value]
        schema = kind
    if schema == "bytes":
        return base64.b64decode(value)
    return value


def _collect(schema: Any, named: dict[str, Any]) -> None:
    if isinstance(schema, list):
        for s in schema:
            _collect(s, named)
    elif isinstance(schema, dict):
        if schema.get("type") == "record":
            if "namespace" in schema:
                named[f"{schema['namespace']}.{schema['name']}"] = schema
            for f in schema["fields"]:
                _collect(f["type"], named)
        elif schema.get("type") == "array":
            _collect(schema["items"], named)


def encode(schema_id: int, schema: Any, datum: Any) -> bytes:
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(_plain(schema)), datum)
    return wire_header(schema_id) + body.getvalue()


def _plain(schema: Any) -> Any:
    # fastavro's decimal logical type wants Decimal datums; write the raw bytes
    if isinstance(schema, list):
        return [_plain(s) for s in schema]
    if isinstance(schema, dict):
        return {k: _plain(v) for k, v in schema.items() if k != "logicalType"}
    return schema


def subject_schemas(json_records: list[tuple[str, bytes | None, bytes | None]]) -> dict[str, Any]:
    """``{<topic>-key|-value: avro schema}`` for the topics of JSON-converter records."""
    found: dict[str, Any] = {}
    for topic, key, value in json_records:
        for part, data in (("key", key), ("value", value)):
            if data is None:
                continue
            doc = orjson.loads(data)
            if isinstance(doc, dict) and "schema" in doc and doc["schema"]:
                found.setdefault(f"{topic}-{part}", avro_schema(doc["schema"]))
    return found


def load_schemas() -> dict[str, Any]:
    return {p.stem: orjson.loads(p.read_bytes()) for p in sorted(AVRO_DIR.glob("*.avsc"))}


if __name__ == "__main__":  # regenerate avro/*.avsc from the real engine output fixture
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "debezium" / "psa_firm.jsonl"
    rows = [orjson.loads(line) for line in fixture.read_bytes().splitlines()]
    schemas = subject_schemas(
        [
            (
                r["topic"],
                None if r["key"] is None else r["key"].encode(),
                None if r["payload"] is None else r["payload"].encode(),
            )
            for r in rows
        ]
    )
    AVRO_DIR.mkdir(exist_ok=True)
    for subject, schema in schemas.items():
        path = AVRO_DIR / f"{subject}.avsc"
        path.write_bytes(orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n")
        print(path)
