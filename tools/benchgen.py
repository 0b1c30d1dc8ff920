"""A generated firm for the benchmarks: CRM and HR webhooks plus a Debezium file.

    plan = plan_firm(records)            # how many projects, contracts, entries
    write_webhooks(plan, directory)      # one JSON body per file (CRM SOWs, HR workers)
    write_debezium(plan, path)           # kcat -C -J JSONL, exactly plan.records lines or close

The firm has one UK legal entity (GB01, GBP, GB-VAT-STD), one rate card with
four roles, a pool of workers, time-and-materials contracts of four projects
each (invoiced per project, no cap) and ten assigned workers per project. The
Debezium file holds what the reference PSA schema's connector writes
(`psledger.demo.envelopes.DebeziumWriter`): a snapshot of the rate card,
its lines, the projects and the assignments, then January 2026's time entries
inserted as submitted timesheets (one worker's week on one project per PSA
transaction), then the same timesheets approved by the project manager (one
transaction each). Every line of the file counts as one record, transaction
BEGIN/END markers included, as `psledger ingest debezium` counts them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from psledger.demo import firm
from psledger.demo.envelopes import DebeziumWriter
from psledger.demo.run import reference_webhook

PERIOD = "2026-01"
WORKERS_PER_PROJECT = 10
PROJECTS_PER_CONTRACT = 4
WORKER_POOL = 40
RATE_CARD = "RC-BENCH-GB"
ROLES = (
    ("consultant", "110.00", "52.00"),
    ("senior-consultant", "150.00", "68.00"),
    ("manager", "190.00", "85.00"),
    ("partner", "250.00", "110.00"),
)
SNAPSHOT_AT = datetime(2026, 1, 1, 6, tzinfo=UTC)
DAYS = firm.working_days(2026, 1)  # 22 working days
WEEKS: list[list[date]] = []
for _day in DAYS:
    if not WEEKS or _day.isocalendar().week != WEEKS[-1][0].isocalendar().week:
        WEEKS.append([])
    WEEKS[-1].append(_day)
# Debezium lines per timesheet: its entries and BEGIN/END, inserted and approved.
LINES_PER_ENTRY = 2 * (1 + 2 * len(WEEKS) / len(DAYS))


@dataclass(frozen=True)
class Timesheet:
    """One worker's week on one project: one PSA transaction."""

    project: str
    assignment: str
    worker: str
    role: str
    manager: str
    days: tuple[date, ...]
    first_entry: int  # entry numbers first_entry .. first_entry + len(days) - 1


@dataclass(frozen=True)
class FirmPlan:
    records: int  # what was asked for; the file holds `lines` records
    projects: int
    timesheets: tuple[Timesheet, ...]

    @property
    def contracts(self) -> int:
        return math.ceil(self.projects / PROJECTS_PER_CONTRACT)

    @property
    def entries(self) -> int:
        return sum(len(t.days) for t in self.timesheets)

    @property
    def snapshot_lines(self) -> int:
        return snapshot_lines(self.projects)

    @property
    def lines(self) -> int:
        return self.snapshot_lines + sum(2 * (len(t.days) + 2) for t in self.timesheets)


def snapshot_lines(projects: int) -> int:
    return 1 + len(ROLES) + projects + projects * WORKERS_PER_PROJECT


def project_id(p: int) -> str:
    return f"PRJ-B-{p:05d}"


def contract_id(c: int) -> str:
    return f"SOW-B-{c:05d}"


def worker_id(w: int) -> str:
    return f"W-B-{w:03d}"


def manager_of(p: int) -> str:
    return f"pm.bench{p % 25:02d}"


def _timesheets(projects: int) -> Iterator[Timesheet]:
    n = 0
    for p in range(projects):
        for k in range(WORKERS_PER_PROJECT):
            w = (p * WORKERS_PER_PROJECT + k) % WORKER_POOL
            role = ROLES[w % len(ROLES)][0]
            for week in WEEKS:
                yield Timesheet(
                    project_id(p),
                    f"ASG-B-{p:05d}-{k:02d}",
                    worker_id(w),
                    role,
                    manager_of(p),
                    tuple(week),
                    n,
                )
                n += len(week)


def plan_firm(records: int) -> FirmPlan:
    """A firm whose Debezium file has `records` lines, or a few fewer (a
    timesheet is cut short to land on the number; at least one is kept)."""
    per_project = WORKERS_PER_PROJECT * len(DAYS)
    projects = max(1, math.ceil(records / LINES_PER_ENTRY / per_project))
    budget = records - snapshot_lines(projects)
    chosen: list[Timesheet] = []
    for sheet in _timesheets(projects):
        cost = 2 * (len(sheet.days) + 2)
        if cost > budget:
            room = budget // 2 - 2
            if room >= 1 or not chosen:
                keep = max(1, room)
                chosen.append(
                    Timesheet(
                        sheet.project,
                        sheet.assignment,
                        sheet.worker,
                        sheet.role,
                        sheet.manager,
                        sheet.days[:keep],
                        sheet.first_entry,
                    )
                )
            break
        chosen.append(sheet)
        budget -= cost
    used = {t.project for t in chosen}
    return FirmPlan(records, len(used), tuple(chosen))


# -- webhooks -------------------------------------------------------------------


def sow_webhook(c: int) -> bytes:
    body: dict[str, Any] = json.loads(reference_webhook("crm.sow.approved.json"))
    body["id"] = f"evt_crm_bench_{c:06d}"
    body["occurred_at"] = "2025-12-15T10:00:00Z"
    data = body["data"]
    data.update(
        contract_id=contract_id(c),
        version=1,
        currency="GBP",
        legal_entity="GB01",
        billing_method="time_and_materials",
        not_to_exceed=None,
        rate_card_id=RATE_CARD,
        consolidation="per_project",
        po_number=f"PO-B-{c:05d}",
        effective_from="2026-01-01",
        effective_to="2026-12-31",
        milestones=[],
    )
    data["customer"] = {
        **data["customer"],
        "id": f"ACC-B-{c:05d}",
        "name": f"Bench customer {c}",
        "erp_customer_no": f"CB{c:06d}",
    }
    return json.dumps(body).encode()


def worker_webhook(w: int) -> bytes:
    role, _rate, cost = ROLES[w % len(ROLES)]
    return firm.webhook(
        "worker.updated",
        f"evt_hr_bench_{w:05d}",
        datetime(2025, 12, 20, 9, tzinfo=UTC),
        "hr-integration",
        {
            "worker_id": worker_id(w),
            "name": f"Bench worker {w}",
            "role": role,
            "legal_entity": "GB01",
            "cost_rate": cost,
            "cost_currency": "GBP",
            "effective_from": "2026-01-01",
            "active": True,
        },
    )


def write_webhooks(plan: FirmPlan, directory: Path) -> list[Path]:
    """CRM SOW approvals (one per contract) and HR worker records, one file each."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for c in range(plan.contracts):
        path = directory / f"crm-{c:05d}.json"
        path.write_bytes(sow_webhook(c))
        paths.append(path)
    for w in range(min(WORKER_POOL, plan.projects * WORKERS_PER_PROJECT)):
        path = directory / f"hr-{w:03d}.json"
        path.write_bytes(worker_webhook(w))
        paths.append(path)
    return paths


# -- Debezium ---------------------------------------------------------------------


def _rate_card_rows() -> tuple[list[firm.Row], list[firm.Row]]:
    card = {"id": RATE_CARD, "name": "Bench UK 2026", "currency": "GBP", "updated_at": firm.STAMP}
    lines = [
        {
            "id": f"RCL-B-{n}",
            "rate_card_id": RATE_CARD,
            "role": role,
            "hourly_rate": Decimal(rate),
            "effective_from": date(2026, 1, 1),
            "effective_to": None,
            "updated_at": firm.STAMP,
        }
        for n, (role, rate, _cost) in enumerate(ROLES)
    ]
    return [card], lines


def _project_rows(projects: int) -> tuple[list[firm.Row], list[firm.Row]]:
    rows, assignments = [], []
    for p in range(projects):
        rows.append(
            {
                "id": project_id(p),
                "contract_id": contract_id(p // PROJECTS_PER_CONTRACT),
                "name": f"Bench project {p}",
                "legal_entity": "GB01",
                "project_manager": manager_of(p),
                "status": "active",
                "updated_at": firm.STAMP,
            }
        )
        for k in range(WORKERS_PER_PROJECT):
            w = (p * WORKERS_PER_PROJECT + k) % WORKER_POOL
            assignments.append(
                {
                    "id": f"ASG-B-{p:05d}-{k:02d}",
                    "project_id": project_id(p),
                    "worker_id": worker_id(w),
                    "role": ROLES[w % len(ROLES)][0],
                    "start_date": date(2026, 1, 1),
                    "end_date": date(2026, 12, 31),
                    "planned_hours": Decimal("160.00"),
                    "status": "confirmed",
                    "updated_at": firm.STAMP,
                }
            )
    return rows, assignments


def entry_id(n: int) -> str:
    return f"TE-B-{n:07d}"


def _entries(sheet: Timesheet, approved: bool) -> list[firm.Row]:
    rows = []
    for n, day in enumerate(sheet.days, start=sheet.first_entry):
        row = firm.time_entry(
            entry_id(n),
            sheet.project,
            sheet.worker,
            sheet.role,
            day,
            "7.50" if n % 3 else "8.00",
            sheet.manager if approved else None,
        )
        if approved:
            at = datetime(2026, 2, 2, 9, tzinfo=UTC) + timedelta(seconds=n % 36000)
            row.update(approved_at=at, updated_at=at)
        else:
            row["updated_at"] = datetime.combine(sheet.days[-1], datetime.min.time(), UTC) + (
                timedelta(hours=17)
            )
        rows.append(row)
    return rows


def write_debezium(plan: FirmPlan, path: Path) -> int:
    """The snapshot, every timesheet inserted, then every timesheet approved.
    Returns the number of lines (records) written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cards, lines = _rate_card_rows()
    projects, assignments = _project_rows(plan.projects)
    with path.open("wb", buffering=1 << 20) as out:
        writer = DebeziumWriter(out)
        writer.snapshot("rate_cards", cards, SNAPSHOT_AT)
        writer.snapshot("rate_card_lines", lines, SNAPSHOT_AT)
        writer.snapshot("projects", projects, SNAPSHOT_AT)
        writer.snapshot("assignments", assignments, SNAPSHOT_AT)
        for sheet in plan.timesheets:
            rows = _entries(sheet, approved=False)
            writer.transaction(
                [("time_entries", "c", None, row) for row in rows], rows[-1]["updated_at"]
            )
        for sheet in plan.timesheets:
            before = _entries(sheet, approved=False)
            after = _entries(sheet, approved=True)
            writer.transaction(
                [("time_entries", "u", b, a) for b, a in zip(before, after, strict=True)],
                after[-1]["updated_at"],
            )
    return sum(writer.offsets.values())
