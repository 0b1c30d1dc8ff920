"""The embedded Debezium engine against a real PostgreSQL with logical decoding."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from cdc.engine import DebeziumEngineSource
from cdc.envelope import decode_json
from cdc.kcat import to_kcat_line
from cdc.records import ChangeEvent, RawRecord, Tombstone, TransactionMarker
from cdc.sources import ChangeSource

pytestmark = [pytest.mark.postgres, pytest.mark.engine]

SCHEMA_SQL = Path(__file__).resolve().parents[3] / "psledger" / "data" / "psa_schema.sql"
SAMPLE = Path(__file__).resolve().parents[2] / "fixtures" / "debezium" / "psa_sample.jsonl"

SEED = """
insert into rate_cards (id, name, currency) values ('rc-1', 'Standard 2025', 'USD');
insert into rate_card_lines values
  ('rcl-1', 'rc-1', 'consultant', 150.25, '2025-01-01', null, now()),
  ('rcl-2', 'rc-1', 'partner', 400.00, '2025-01-01', '2025-12-31', now());
insert into projects (id, contract_id, name, legal_entity, project_manager)
  values ('prj-1', 'sow-1', 'Data platform', 'US01', 'pm.lee');
insert into assignments (id, project_id, worker_id, role, start_date, end_date, planned_hours)
  values ('asg-1', 'prj-1', 'w-7', 'consultant', '2025-03-01', '2025-06-30', 320.50);
insert into milestones (id, project_id, name, amount, currency, due_date)
  values ('ms-1', 'prj-1', 'Go-live', 25000.00, 'USD', '2025-06-30');
"""

CHANGES = """
insert into time_entries (id, project_id, worker_id, role, work_date, hours, notes)
  values ('te-1', 'prj-1', 'w-7', 'consultant', '2025-03-03', 7.50, 'design workshop');
insert into expense_items (id, project_id, worker_id, incurred_on, category, amount, currency)
  values ('ex-1', 'prj-1', 'w-7', '2025-03-04', 'travel', 412.37, 'USD');
update time_entries set status = 'approved', approved_by = 'pm.lee', approved_at = now()
  where id = 'te-1';
update milestones set status = 'achieved' where id = 'ms-1';
delete from expense_items where id = 'ex-1';
"""


def run(
    source: ChangeSource, on_batch: Callable[[list[RawRecord]], None] | None = None
) -> list[RawRecord]:
    """Drain ``source`` until idle, committing each batch (durability is trivial here)."""
    seen: list[RawRecord] = []
    try:
        for batch in source.batches():
            records = [r for r in batch if isinstance(r, RawRecord)]
            assert len(records) == len(batch)
            seen.extend(records)
            source.commit(batch)
            if on_batch is not None:
                on_batch(records)
    finally:
        source.close()
    return seen


def changes(records: list[RawRecord]) -> list[ChangeEvent]:
    decoded = [decode_json(r) for r in records]
    return [d for d in decoded if isinstance(d, ChangeEvent)]


def test_snapshot_then_streaming_then_resume_from_offsets(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())  # type: ignore[arg-type]
        conn.execute(SEED)  # type: ignore[arg-type]
    slot = f"s_{uuid.uuid4().hex[:12]}"
    offsets = tmp_path / "offsets.dat"

    def source() -> DebeziumEngineSource:
        return DebeziumEngineSource(
            pg_url,
            offsets_path=offsets,
            slot_name=slot,
            publication_name=slot,
            batch_size=50,
            stop_when_idle_seconds=6,
        )

    applied = False

    def change_after_snapshot(batch: list[RawRecord]) -> None:
        nonlocal applied
        decoded = [decode_json(r) for r in batch]
        if not applied and any(
            isinstance(d, ChangeEvent) and d.snapshot == "last" for d in decoded
        ):
            applied = True
            with psycopg.connect(pg_url, autocommit=True) as conn, conn.transaction():
                conn.execute(CHANGES)  # type: ignore[arg-type]

    first = run(source(), change_after_snapshot)
    events = changes(first)

    reads = [e for e in events if e.op == "r"]
    assert {(e.table, e.key["id"]) for e in reads if e.key} == {
        ("rate_cards", "rc-1"),
        ("rate_card_lines", "rcl-1"),
        ("rate_card_lines", "rcl-2"),
        ("projects", "prj-1"),
        ("assignments", "asg-1"),
        ("milestones", "ms-1"),
    }
    assert all(
        e.snapshot
        in ("first", "true", "last", "first_in_data_collection", "last_in_data_collection")
        for e in reads
    )
    line = next(e for e in reads if e.key == {"id": "rcl-1"})
    assert line.after is not None
    assert (
        line.after["hourly_rate"] == Decimal("150.25")
        and str(line.after["hourly_rate"]) == "150.25"
    )
    assert line.after["effective_from"] == date(2025, 1, 1) and line.after["effective_to"] is None

    streamed = [(e.op, e.table, e.key["id"] if e.key else None) for e in events if e.op != "r"]
    assert streamed == [
        ("c", "time_entries", "te-1"),
        ("c", "expense_items", "ex-1"),
        ("u", "time_entries", "te-1"),
        ("u", "milestones", "ms-1"),
        ("d", "expense_items", "ex-1"),
    ]
    insert, _, update, _, delete = (e for e in events if e.op != "r")
    assert insert.after is not None and insert.after["hours"] == Decimal("7.50")
    assert insert.after["work_date"] == date(2025, 3, 3)
    assert insert.snapshot == "false" and insert.lsn and insert.tx_id and insert.commit_time
    assert update.before is not None and update.before["status"] == "draft"
    assert update.after is not None and update.after["status"] == "approved"
    assert update.after["approved_at"].tzinfo is not None
    assert delete.after is None and delete.before is not None
    assert delete.before["amount"] == Decimal("412.37")
    assert len({e.tx_id for e in events if e.op != "r"}) == 1
    decoded = [decode_json(r) for r in first]
    assert any(isinstance(d, Tombstone) and d.key == {"id": "ex-1"} for d in decoded)
    markers = [d for d in decoded if isinstance(d, TransactionMarker)]
    assert [m.status for m in markers] == ["BEGIN", "END"] and markers[1].event_count == 5

    if os.environ.get("PSLEDGER_WRITE_DEBEZIUM_SAMPLE"):
        SAMPLE.parent.mkdir(parents=True, exist_ok=True)
        SAMPLE.write_bytes(b"".join(to_kcat_line(r) for r in first))

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("update projects set status = 'on_hold' where id = 'prj-1'")

    again = changes(run(source()))
    assert [(e.op, e.table, e.key) for e in again] == [("u", "projects", {"id": "prj-1"})]
    assert again[0].after is not None and again[0].after["status"] == "on_hold"

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("select pg_drop_replication_slot(%s)", [slot])
