"""Decoding Debezium JSON envelopes (Kafka Connect JSON converter output)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from cdc_envelopes import (
    KEY_SCHEMA,
    ROW_FIELDS,
    b64_decimal,
    envelope_schema,
    field,
    payload,
    raw,
)

from cdc.envelope import decode_json
from cdc.errors import DecodeError
from cdc.records import UNAVAILABLE, ChangeEvent, Heartbeat, Tombstone, TransactionMarker
from cdc.values import ColumnType

ROW = {
    "id": "t1",
    "work_date": 20150,
    "hours": b64_decimal("7.50", 2),
    "billable": True,
    "approved_at": "2026-11-29T07:58:13.985964Z",
}
SCHEMA = envelope_schema(ROW_FIELDS)


def change(record: object) -> ChangeEvent:
    assert isinstance(record, ChangeEvent)
    return record


def test_an_insert_with_the_schema_wrapper_decodes_typed_values_and_provenance() -> None:
    event = change(
        decode_json(
            raw(payload("c", after=ROW), key={"id": "t1"}, schema=SCHEMA, key_schema=KEY_SCHEMA)
        )
    )
    assert event.op == "c"
    assert (event.schema, event.table, event.topic) == (
        "public",
        "time_entries",
        "psa.public.time_entries",
    )
    assert event.key == {"id": "t1"}
    assert event.before is None
    assert event.after == {
        "id": "t1",
        "work_date": date(2025, 3, 3),
        "hours": Decimal("7.50"),
        "billable": True,
        "approved_at": datetime(2026, 11, 29, 7, 58, 13, 985964, tzinfo=UTC),
    }
    assert str(event.after["hours"]) == "7.50"
    assert event.lsn == 26570168
    assert event.tx_id == "742"
    assert event.commit_time == datetime(2026, 1, 5, 11, 23, 11, tzinfo=UTC)
    assert event.snapshot == "false" and not event.is_snapshot
    assert (event.connector, event.database) == ("postgresql", "psa")
    assert event.transaction is not None and event.transaction.id == "742:26570168"
    assert event.transaction.total_order == 1
    assert event.raw.position.offset == 7


def test_an_update_carries_the_before_image() -> None:
    after = {**ROW, "billable": False}
    event = change(
        decode_json(raw(payload("u", before=ROW, after=after), key={"id": "t1"}, schema=SCHEMA))
    )
    assert event.op == "u"
    assert event.before is not None and event.before["billable"] is True
    assert event.after is not None and event.after["billable"] is False


def test_a_delete_has_only_a_before_image() -> None:
    event = change(decode_json(raw(payload("d", before=ROW), key={"id": "t1"}, schema=SCHEMA)))
    assert event.op == "d" and event.after is None
    assert event.before is not None and event.before["hours"] == Decimal("7.50")


@pytest.mark.parametrize(
    "flag, expected",
    [
        ("first", "first"),
        ("last", "last"),
        ("true", "true"),
        ("incremental", "incremental"),
        (True, "true"),
        (False, "false"),
    ],
)
def test_snapshot_reads_keep_the_snapshot_marker_as_a_string(flag: object, expected: str) -> None:
    event = change(
        decode_json(raw(payload("r", after=ROW, snapshot=flag), key={"id": "t1"}, schema=SCHEMA))
    )
    assert event.op == "r" and event.snapshot == expected


def test_a_bare_envelope_without_column_types_keeps_wire_values() -> None:
    event = change(decode_json(raw(payload("c", after=ROW), key={"id": "t1"})))
    assert event.after == ROW


def test_a_bare_envelope_is_typed_by_column_types() -> None:
    types = {
        "time_entries": {
            "work_date": ColumnType("date"),
            "hours": ColumnType("decimal", scale=2),
            "approved_at": ColumnType("timestamp", unit="iso"),
        }
    }
    event = change(decode_json(raw(payload("c", after=ROW), key={"id": "t1"}), column_types=types))
    assert event.after is not None
    assert event.after["hours"] == Decimal("7.50")
    assert event.after["work_date"] == date(2025, 3, 3)
    assert event.after["approved_at"].tzinfo is not None


def test_column_types_may_name_the_table_with_its_schema() -> None:
    types = {"public.time_entries": {"hours": ColumnType("decimal", scale=2)}}
    event = change(decode_json(raw(payload("c", after=ROW), key={"id": "t1"}), column_types=types))
    assert event.after is not None and event.after["hours"] == Decimal("7.50")


def test_a_tombstone_is_a_null_value_with_its_key() -> None:
    record = decode_json(raw(None, key={"id": "t1"}, key_schema=KEY_SCHEMA))
    assert isinstance(record, Tombstone) and record.key == {"id": "t1"}


def test_heartbeats_are_recognised_by_topic_without_parsing() -> None:
    record = decode_json(raw(b"not even json", key=b"{}", topic="__debezium-heartbeat.psa"))
    assert (
        isinstance(record, Heartbeat) and record.raw.position.source == "__debezium-heartbeat.psa"
    )


@pytest.mark.parametrize("wrapped", [True, False])
def test_transaction_markers_decode_begin_and_end(wrapped: bool) -> None:
    end = {
        "status": "END",
        "id": "742:26570896",
        "event_count": 3,
        "ts_ms": 1,
        "data_collections": [{"data_collection": "public.time_entries", "event_count": 3}],
    }
    begin = {
        "status": "BEGIN",
        "id": "742:26570168",
        "event_count": None,
        "data_collections": None,
        "ts_ms": 1,
    }
    schema = {"type": "struct", "fields": []} if wrapped else None
    marker = decode_json(
        raw(end, key={"id": "742:26570896"}, topic="psa.transaction", schema=schema)
    )
    assert marker == TransactionMarker(
        "END", "742:26570896", 3, (("public.time_entries", 3),), marker.raw
    )
    opened = decode_json(
        raw(begin, key={"id": "742:26570168"}, topic="psa.transaction", schema=schema)
    )
    assert isinstance(opened, TransactionMarker)
    assert (opened.status, opened.event_count, opened.data_collections) == ("BEGIN", None, ())


def test_truncate_and_message_events_need_no_key() -> None:
    truncate = {"op": "t", "source": {"schema": "public", "table": "time_entries"}, "ts_ms": 1}
    assert change(decode_json(raw(truncate))).op == "t"
    message = {"op": "m", "source": {"lsn": 5}, "message": {"prefix": "psa", "content": "aGk="}}
    event = change(decode_json(raw(message, topic="psa.message")))
    assert event.op == "m" and event.after == {"prefix": "psa", "content": "aGk="}


def test_the_toast_placeholder_becomes_the_unavailable_sentinel() -> None:
    row = {**ROW, "notes": "__debezium_unavailable_value"}
    schema = envelope_schema([*ROW_FIELDS, field("notes", "string")])
    event = change(
        decode_json(raw(payload("u", before=row, after=row), key={"id": "t1"}, schema=schema))
    )
    assert event.after is not None and event.after["notes"] is UNAVAILABLE
    bare = change(decode_json(raw(payload("u", after=row), key={"id": "t1"})))
    assert bare.after is not None and bare.after["notes"] is UNAVAILABLE


def test_a_toasted_decimal_in_bytes_form_is_also_unavailable() -> None:
    row = {**ROW, "hours": "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="}
    event = change(decode_json(raw(payload("u", after=row), key={"id": "t1"}, schema=SCHEMA)))
    assert event.after is not None and event.after["hours"] is UNAVAILABLE


def reason(record: object, **kw: object) -> str:
    with pytest.raises(DecodeError) as caught:
        decode_json(record, **kw)  # type: ignore[arg-type]
    assert "psa.public.time_entries[0]@7" in caught.value.detail or "@" in caught.value.detail
    return caught.value.reason


def test_bad_inputs_raise_decode_errors_with_reason_codes() -> None:
    assert reason(raw(b'{"op": "c", ', key={"id": "t1"})) == "malformed_json"
    assert reason(raw(b'{"op": "c\xff"}', key={"id": "t1"})) == "non_utf8"
    assert reason(raw(payload("c", after=ROW))) == "null_key"
    assert (
        reason(raw({"before": None, "after": ROW, "source": {}}, key={"id": "t1"}))
        == "missing_field"
    )
    assert reason(raw({"op": "c", "after": ROW}, key={"id": "t1"})) == "missing_field"
    assert reason(raw([1, 2], key={"id": "t1"})) == "not_an_envelope"
    assert reason(raw({**payload("c", after=ROW), "op": "x"}, key={"id": "t1"})) == "bad_value"
    assert reason(raw(b'{"id": 1', key=None)) == "malformed_json"


def test_a_bad_key_is_a_decode_error() -> None:
    assert reason(raw(payload("c", after=ROW), key=b"\xff\xfe")) == "non_utf8"
    assert reason(raw(payload("c", after=ROW), key=b"[1,")) == "malformed_json"
