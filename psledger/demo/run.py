"""`psledger demo`: build the sample firm through the real ingestion paths,
bill January and February 2026, and summarise the ledger."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path

from cdc.sources import FileChangeSource
from domain.contract import Contract
from domain.invoice import Invoice
from psledger.bootstrap import Wiring
from psledger.demo import firm
from psledger.demo.envelopes import DebeziumWriter
from psledger.ingest_tally import run_counted

Change = tuple[str, str, firm.Row | None, firm.Row | None]
BY_FINANCE = "fcontroller@firm.example"


@dataclass
class DemoReport:
    files: list[Path] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    events_before: int = 0
    events_after: int = 0


def reference_webhook(name: str) -> bytes:
    return resources.files("psledger.data").joinpath(f"webhooks/{name}").read_bytes()


def _changed(row: firm.Row, **changes: object) -> Change:
    after = {**row, **changes}
    return ("time_entries", "u", row, after)


def write_january(path: Path) -> dict[str, firm.Row]:
    """Snapshot of the master data, then January's work in weekly transactions."""
    entries = firm.month_time(1, 1)
    late = next(e for e in reversed(entries) if e["worker_id"] == "W-1002")
    late.update(status="submitted", approved_by=None, approved_at=None)
    no_rate = firm.time_entry(
        "TE-0900", "PRJ-NW-1", "W-1001", "architect", date(2026, 1, 20), "4.00", "pm.grey"
    )
    with path.open("wb") as out:
        writer = DebeziumWriter(out)
        snap = datetime(2026, 1, 2, 8, tzinfo=UTC)
        writer.snapshot("rate_cards", firm.rate_cards(), snap)
        writer.snapshot("rate_card_lines", firm.rate_card_lines(), snap)
        writer.snapshot("projects", firm.projects(), snap)
        writer.snapshot("assignments", firm.assignments(), snap)
        for week in range(0, len(entries), 25):
            chunk = entries[week : week + 25]
            at = chunk[-1]["updated_at"]
            writer.transaction([("time_entries", "c", None, e) for e in chunk], at)
        writer.transaction([("time_entries", "c", None, no_rate)], no_rate["updated_at"])
        writer.transaction(
            [
                ("expense_items", "c", None, e)
                for e in firm.expenses()
                if e["incurred_on"].month == 1
            ],
            datetime(2026, 1, 26, 10, tzinfo=UTC),
        )
        accepted = datetime(2026, 1, 28, 15, tzinfo=UTC)
        writer.transaction(
            [
                (
                    "milestones",
                    "c",
                    None,
                    firm.milestone(
                        "MS-2001-1", "Discovery sign-off", "40000.00", date(2026, 1, 30), accepted
                    ),
                ),
                (
                    "milestones",
                    "c",
                    None,
                    firm.milestone("MS-2001-2", "Go-live", "60000.00", date(2026, 2, 27), None),
                ),
            ],
            accepted,
        )
    first_alice = next(e for e in entries if e["worker_id"] == "W-1001")
    return {"late": late, "corrected": first_alice}


def write_february(path: Path, january: dict[str, firm.Row]) -> None:
    """February: a rate change, a hold, a late approval, a correction after
    invoicing, a withdrawn draft, the month's work and the go-live acceptance."""
    entries = firm.month_time(2, 1000)
    on_hold = next(p for p in firm.projects() if p["id"] == "PRJ-NW-2")
    feb3 = datetime(2026, 2, 3, 9, tzinfo=UTC)
    late = january["late"]
    corrected = january["corrected"]
    pilot = firm.time_entry(
        "TE-2001", "PRJ-NW-2", "W-1002", "consultant", date(2026, 2, 4), "5.00", "pm.grey"
    )
    draft = firm.time_entry(
        "TE-2002", "PRJ-NW-1", "W-1001", "senior-consultant", date(2026, 2, 5), "2.00", None
    )
    with path.open("wb") as out:
        writer = DebeziumWriter(out)
        writer.lsn = 40_000_000
        writer.tx = 900
        writer.transaction([("rate_card_lines", "c", None, firm.rate_change())], feb3)
        writer.transaction(
            [
                _changed(
                    late,
                    status="approved",
                    approved_by="pm.grey",
                    approved_at=feb3,
                    updated_at=feb3,
                )
            ],
            feb3,
        )
        writer.transaction([_changed(corrected, hours=Decimal("6.00"), updated_at=feb3)], feb3)
        writer.transaction(
            [
                ("time_entries", "c", None, pilot),
                ("time_entries", "c", None, draft),
                ("projects", "u", on_hold, {**on_hold, "status": "on_hold"}),
            ],
            feb3,
        )
        writer.transaction([("time_entries", "d", draft, None)], feb3)
        for week in range(0, len(entries), 25):
            chunk = entries[week : week + 25]
            writer.transaction(
                [("time_entries", "c", None, e) for e in chunk], chunk[-1]["updated_at"]
            )
        writer.transaction(
            [
                ("expense_items", "c", None, e)
                for e in firm.expenses()
                if e["incurred_on"].month == 2
            ],
            datetime(2026, 2, 13, 10, tzinfo=UTC),
        )
        planned = firm.milestone("MS-2001-2", "Go-live", "60000.00", date(2026, 2, 27), None)
        accepted = datetime(2026, 2, 20, 16, tzinfo=UTC)
        writer.transaction(
            [
                (
                    "milestones",
                    "u",
                    planned,
                    firm.milestone("MS-2001-2", "Go-live", "60000.00", date(2026, 2, 27), accepted),
                )
            ],
            accepted,
        )


def erp_webhooks(invoices: list[Invoice]) -> list[bytes]:
    """Post the UK January invoice; reject the US milestone invoice."""
    bodies = []
    for inv in invoices:
        if inv.business_id == "GB01-SOW-1042-2026-01":
            bodies.append(
                firm.webhook(
                    "invoice.posted",
                    "evt_erp_120033",
                    datetime(2026, 2, 3, 11, 15, tzinfo=UTC),
                    "d365-finance",
                    {
                        "invoice_number": inv.business_id,
                        "erp_document_no": "FTI-000918",
                        "posted_at": "2026-02-03T11:15:40Z",
                        "legal_entity": "GB01",
                    },
                )
            )
        elif inv.header.get("milestone_id") == "MS-2001-1":
            bodies.append(
                firm.webhook(
                    "invoice.rejected",
                    "evt_erp_120034",
                    datetime(2026, 2, 3, 11, 16, tzinfo=UTC),
                    "d365-finance",
                    {
                        "invoice_number": inv.business_id,
                        "reason": "Customer account C000112 is on credit hold",
                        "legal_entity": "US01",
                    },
                )
            )
    return bodies


def _webhooks(wiring: Wiring, bodies: list[bytes]) -> int:
    """Apply webhook bodies; how many were new (not redeliveries)."""
    return sum(not wiring.ledger.apply_webhook(body).duplicate for body in bodies)


def _done(new: int, total: int, what: str) -> str:
    """What a step did: all of it, part of it, or nothing (already done)."""
    if new == total:
        return what
    if new == 0:
        return f"{what}: already recorded, nothing appended"
    return f"{what}: {new} of {total} new, the rest already recorded"


def _ingest(wiring: Wiring, path: Path, label: str) -> str:
    report, tally = run_counted(wiring.pipeline, FileChangeSource([path]))
    return f"{label} (Debezium file): {tally.line(report)}"


def _billed(wiring: Wiring, period: str) -> str:
    billed = wiring.ledger.bill(period, actor=BY_FINANCE)
    if not billed.events_appended:
        return f"billing {period}: already billed, nothing appended"
    return (
        f"billing {period}: {len(billed.invoices)} invoices and credit notes issued, "
        f"{billed.events_appended} events appended"
    )


def run_demo(wiring: Wiring, out_dir: Path) -> DemoReport:
    """Each step says what it did on this store: a second run on the same
    store appends nothing and says so."""
    ledger = wiring.ledger
    report = DemoReport(events_before=wiring.app.recorder.max_notification_id() or 0)
    out_dir.mkdir(parents=True, exist_ok=True)

    contracts = [
        reference_webhook(name)
        for name in (
            "crm.sow.approved.json",
            "crm.sow.approved.fixed_price.json",
            "crm.sow.approved.retainer.json",
        )
    ]
    new = _webhooks(wiring, contracts)
    report.steps.append(_done(new, len(contracts), "CRM: 3 contracts approved"))
    workers = firm.worker_webhooks()
    new = _webhooks(wiring, workers)
    report.steps.append(_done(new, len(workers), "HR: 6 workers in GB01, US01, DE01"))

    january = write_january(out_dir / "psa-2026-01.jsonl")
    report.files.append(out_dir / "psa-2026-01.jsonl")
    report.steps.append(_ingest(wiring, out_dir / "psa-2026-01.jsonl", "PSA January"))
    report.steps.append(_billed(wiring, "2026-01"))

    january_invoices = [inv for inv in ledger.invoices() if inv.header["period"] == "2026-01"]
    erp = erp_webhooks(january_invoices)
    new = _webhooks(wiring, erp)
    report.steps.append(
        _done(new, len(erp), "ERP: GB01-SOW-1042-2026-01 posted; the US milestone invoice rejected")
    )

    new = _webhooks(wiring, [reference_webhook("crm.sow.amended.json")])
    report.steps.append(_done(new, 1, "CRM: SOW-1042 amended (cap 85000.00 from 2026-02-16)"))
    contract = ledger.load(Contract, "SOW-1042")
    if contract is not None and contract.versions[2].status == "proposed":
        ledger.approve_amendment("SOW-1042", 2, BY_FINANCE)
        report.steps.append(f"SOW-1042 amendment approved by {BY_FINANCE}")
    else:
        report.steps.append("SOW-1042 amendment: already approved, nothing appended")

    write_february(out_dir / "psa-2026-02.jsonl", january)
    report.files.append(out_dir / "psa-2026-02.jsonl")
    report.steps.append(_ingest(wiring, out_dir / "psa-2026-02.jsonl", "PSA February"))
    report.steps.append(_billed(wiring, "2026-02"))
    report.events_after = wiring.app.recorder.max_notification_id() or 0
    return report


def totals_by_currency(invoices: list[Invoice]) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    totals: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for inv in invoices:
        if inv.state == "rejected":
            continue
        net, tax, gross = totals.get(inv.header["currency"], (Decimal(0),) * 3)
        totals[inv.header["currency"]] = (net + inv.net, tax + inv.tax, gross + inv.gross)
    return totals


def items_by_state(wiring: Wiring) -> Counter[tuple[str, str]]:
    return Counter((item.KIND, item.state) for item in wiring.ledger.work_items())
