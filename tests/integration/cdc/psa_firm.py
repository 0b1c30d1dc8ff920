"""A small professional services firm in the reference PSA schema, captured by
the embedded Debezium engine, and helpers to run it into a ledger.

The firm delivers CRM contract SOW-1042 (shared/reference/webhooks/
crm.sow.approved.json: GBP, legal entity GB01, rate card RC-GB-2026).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import psycopg

from cdc.engine import DebeziumEngineSource
from cdc.kcat import to_kcat_line
from cdc.records import RawRecord
from cdc.sources import Batch, ChangeSource, Item
from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings

REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data"  # copies of shared/reference
SCHEMA_SQL = REFERENCE / "psa_schema.sql"
SOW_APPROVED = REFERENCE / "webhooks" / "crm.sow.approved.json"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "debezium"
FIRM_FILE = FIXTURES / "psa_firm.jsonl"
"""Real engine output for FIRM then CHANGES (regenerate: PSLEDGER_WRITE_DEBEZIUM_SAMPLE=1
pytest tests/integration/cdc/test_cdc_firm_e2e.py)."""

FIRM = """
insert into rate_cards (id, name, currency) values ('RC-GB-2026', 'UK standard 2026', 'GBP');
insert into rate_card_lines (id, rate_card_id, role, hourly_rate, effective_from) values
  ('RCL-GB-1', 'RC-GB-2026', 'consultant', 120.00, '2026-01-01'),
  ('RCL-GB-2', 'RC-GB-2026', 'senior-consultant', 165.00, '2026-01-01'),
  ('RCL-GB-3', 'RC-GB-2026', 'partner', 310.00, '2026-01-01');
insert into projects (id, contract_id, name, legal_entity, project_manager)
  values ('PRJ-NW-1', 'SOW-1042', 'Northwind replatforming', 'GB01', 'pm.lee');
insert into assignments (id, project_id, worker_id, role, start_date, end_date, planned_hours)
  values ('ASG-1', 'PRJ-NW-1', 'W-101', 'consultant', '2026-01-05', '2026-03-31', 240.00),
         ('ASG-2', 'PRJ-NW-1', 'W-102', 'senior-consultant', '2026-01-05', '2026-03-31', 120.00);
insert into time_entries
  (id, project_id, worker_id, role, work_date, hours, notes, status, approved_by, approved_at)
  values
  ('TE-1', 'PRJ-NW-1', 'W-101', 'consultant', '2026-01-06', 7.50, 'discovery workshop',
   'approved', 'pm.lee', '2026-01-09 17:00:00+00'),
  ('TE-2', 'PRJ-NW-1', 'W-102', 'senior-consultant', '2026-01-07', 8.00, 'architecture review',
   'submitted', null, null),
  ('TE-3', 'PRJ-NW-1', 'W-101', 'consultant', '2026-01-08', 6.00, 'data mapping',
   'approved', 'pm.lee', '2026-01-09 17:05:00+00'),
  ('TE-4', 'PRJ-NW-1', 'W-101', 'consultant', '2026-01-09', 4.00, 'entered twice',
   'draft', null, null);
insert into expense_items (id, project_id, worker_id, incurred_on, category, amount, currency,
                           receipt_ref, status, approved_by, approved_at)
  values ('EX-1', 'PRJ-NW-1', 'W-101', '2026-01-06', 'travel', 86.40, 'GBP', 'RCPT-5531',
          'approved', 'pm.lee', '2026-01-09 17:10:00+00');
insert into milestones (id, project_id, name, amount, currency, due_date)
  values ('MS-1', 'PRJ-NW-1', 'Discovery sign-off', 5000.00, 'GBP', '2026-01-30');
"""

CHANGES: tuple[str, ...] = (
    # each string is one PSA transaction
    "update time_entries set status = 'approved', approved_by = 'pm.lee',"
    " approved_at = '2026-01-12 09:30:00+00', updated_at = now() where id = 'TE-2'",
    "update time_entries set hours = 8.00, updated_at = now() where id = 'TE-1'",
    "delete from time_entries where id = 'TE-4'",
    # several tables in one transaction
    "insert into time_entries (id, project_id, worker_id, role, work_date, hours, notes, status,"
    " approved_by, approved_at) values ('TE-5', 'PRJ-NW-1', 'W-102', 'senior-consultant',"
    " '2026-01-13', 5.00, 'cutover plan', 'approved', 'pm.lee', '2026-01-14 10:00:00+00');"
    " insert into expense_items (id, project_id, worker_id, incurred_on, category, amount,"
    " currency, status, approved_by, approved_at) values ('EX-2', 'PRJ-NW-1', 'W-102',"
    " '2026-01-13', 'lodging', 142.00, 'GBP', 'approved', 'pm.lee', '2026-01-14 10:00:00+00');"
    " update milestones set status = 'achieved', updated_at = now() where id = 'MS-1'",
)

# What billing January 2026 must invoice after FIRM and CHANGES (GBP net).
EXPECTED_JANUARY = {
    "TE-1": "960.00",  # 8.00 h x 120.00
    "TE-2": "1320.00",  # 8.00 h x 165.00
    "TE-3": "720.00",  # 6.00 h x 120.00
    "TE-5": "825.00",  # 5.00 h x 165.00
    "EX-1": "86.40",
    "EX-2": "142.00",
}


def create_psa(url: str, *, seed: bool = True) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())  # type: ignore[arg-type]
        if seed:
            conn.execute(FIRM)  # type: ignore[arg-type]


def execute(url: str, *transactions: str) -> None:
    """Run each string as one transaction in the PSA."""
    with psycopg.connect(url) as conn:
        for sql in transactions:
            with conn.transaction():
                conn.execute(sql)  # type: ignore[arg-type]


def drop_slot(url: str, slot: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots"
            " where slot_name = %s",
            [slot],
        )


def engine(url: str, offsets: Path, slot: str, idle: float = 5.0) -> DebeziumEngineSource:
    return DebeziumEngineSource(
        url,
        offsets_path=offsets,
        slot_name=slot,
        publication_name=f"pub_{slot}",
        batch_size=100,
        stop_when_idle_seconds=idle,
    )


def new_slot() -> str:
    return f"s_{uuid.uuid4().hex[:12]}"


class Recording:
    """A ChangeSource wrapper that keeps every record it hands out and can act
    between batches (after the previous batch was committed)."""

    def __init__(
        self, source: ChangeSource, after_batch: Callable[[list[RawRecord]], None] | None = None
    ) -> None:
        self.source = source
        self.after_batch = after_batch
        self.records: list[RawRecord] = []

    def batches(self) -> Iterator[list[Item]]:
        for batch in self.source.batches():
            raws = [r for r in batch if isinstance(r, RawRecord)]
            self.records.extend(raws)
            yield batch
            if self.after_batch is not None:
                self.after_batch(raws)

    def commit(self, batch: Batch) -> None:
        self.source.commit(batch)

    def close(self) -> None:
        self.source.close()


class ListSource:
    """In-memory records as one ChangeSource (batches of ``batch_size``)."""

    def __init__(self, records: Sequence[RawRecord], batch_size: int = 500) -> None:
        self.records = list(records)
        self.batch_size = batch_size
        self.committed: list[Batch] = []

    def batches(self) -> Iterator[list[Item]]:
        for i in range(0, len(self.records), self.batch_size):
            yield list(self.records[i : i + self.batch_size])

    def commit(self, batch: Batch) -> None:
        self.committed.append(batch)

    def close(self) -> None:
        pass


def write_kcat(path: Path, records: Sequence[RawRecord]) -> Path:
    path.write_bytes(b"".join(to_kcat_line(r) for r in records))
    return path


def read_kcat(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def ledger(store: Path, **settings: Any) -> Wiring:
    """A ledger in a SQLite file that already knows contract SOW-1042."""
    wiring = bootstrap(Settings(store=f"sqlite:///{store}", **settings))
    wiring.ledger.apply_webhook(SOW_APPROVED.read_bytes())
    return wiring


def event_count(wiring: Wiring) -> int:
    """How many events the store holds (its highest notification id)."""
    return int(wiring.app.recorder.max_notification_id() or 0)  # type: ignore[attr-defined]


def sources_of(wiring: Wiring) -> list[tuple[str, str, str]]:
    """(aggregate, event, source record) of every CDC-derived event in the store."""
    found = []
    recorder: Any = wiring.app.recorder
    for notification in recorder.select_notifications(start=1, limit=1_000_000):
        event = wiring.app.mapper.to_domain_event(notification)
        provenance = getattr(event, "provenance", None)
        if provenance is None or provenance.source_system != "psa":
            continue
        name = type(event).__qualname__
        found.append((str(event.originator_id), name, provenance.record_id))
    return found
