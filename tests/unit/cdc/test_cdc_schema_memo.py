"""A decoder that remembers Connect schemas decodes exactly as one that does not."""

from __future__ import annotations

import orjson
import pytest
from cdc_envelopes import KEY_SCHEMA, ROW_FIELDS, b64_decimal, envelope_schema, field, payload, raw

from cdc.connect_json import SchemaMemo
from cdc.envelope import decode_json
from cdc.errors import DecodeError
from cdc.records import ChangeEvent


def row(n: int, hours: str = "7.50") -> dict[str, object]:
    return {"id": f"t{n}", "work_date": 20150, "hours": b64_decimal(hours, 2), "billable": True}


def decoded(memo: SchemaMemo | None, *records: object) -> list[ChangeEvent]:
    out = []
    for record in records:
        event = decode_json(record, memo=memo)  # type: ignore[arg-type]
        assert isinstance(event, ChangeEvent)
        out.append(event)
    return out


def test_records_after_the_first_of_a_schema_decode_as_without_the_memo() -> None:
    # given three records of one table, sharing their key and value schemas
    schema = envelope_schema(ROW_FIELDS)
    records = [
        raw(payload(after=row(n)), key={"id": f"t{n}"}, schema=schema, key_schema=KEY_SCHEMA)
        for n in range(3)
    ]
    memo = SchemaMemo()
    # when decoded with a memo, and without one
    with_memo, without = decoded(memo, *records), decoded(None, *records)
    # then the results are the same, and the memo learned both schemas
    assert with_memo == without
    assert with_memo[2].after is not None and str(with_memo[2].after["hours"]) == "7.50"
    assert memo.split(records[1].value or b"") is not None
    assert memo.split(records[1].key or b"") is not None


def test_a_changed_schema_is_a_new_schema_with_its_own_types() -> None:
    # given a table whose hours column changes scale between two records
    memo = SchemaMemo()
    two = [field(f["field"], f["type"], f.get("name"), scale="2") for f in ROW_FIELDS[2:3]]
    three = [field(f["field"], f["type"], f.get("name"), scale="3") for f in ROW_FIELDS[2:3]]
    first = raw(
        payload(after={"hours": b64_decimal("7.50", 2)}),
        key={"id": "t1"},
        schema=envelope_schema(two),
        key_schema=KEY_SCHEMA,
    )
    second = raw(
        payload(after={"hours": b64_decimal("7.500", 3)}),
        key={"id": "t1"},
        schema=envelope_schema(three),
        key_schema=KEY_SCHEMA,
    )
    # when both are decoded with one memo
    a, b = decoded(memo, first, second)
    # then each is read at its own scale
    assert a.after is not None and b.after is not None
    assert (str(a.after["hours"]), str(b.after["hours"])) == ("7.50", "7.500")


def test_a_schema_holding_the_payload_marker_is_never_split_there() -> None:
    # given a schema with a parameter named like the payload key
    odd = [field("id", "string", a="1", payload="2")]
    record = raw(
        payload(after={"id": "t1"}),
        key={"id": "t1"},
        schema=envelope_schema(odd),
        key_schema=KEY_SCHEMA,
    )
    value = record.value or b""
    assert value.find(b',"payload":') < value.rfind(b',"payload":')  # once in the schema
    memo = SchemaMemo()
    # when it is decoded twice with the memo
    a, b = decoded(memo, record, record)
    # then it decodes as without the memo, each time
    assert a == b == decoded(None, record)[0]


def test_a_bad_payload_after_a_known_schema_is_reported_as_without_the_memo() -> None:
    schema = envelope_schema(ROW_FIELDS)
    good = raw(payload(after=row(1)), key={"id": "t1"}, schema=schema, key_schema=KEY_SCHEMA)
    memo = SchemaMemo()
    decoded(memo, good)
    value = good.value or b""
    broken = raw(value[:-2] + b"}", key={"id": "t1"}, key_schema=KEY_SCHEMA)
    with pytest.raises(DecodeError) as with_memo:
        decode_json(broken, memo=memo)
    with pytest.raises(DecodeError) as without:
        decode_json(broken)
    assert with_memo.value.reason == without.value.reason == "malformed_json"
    assert orjson.loads(value)  # the good record itself was valid
