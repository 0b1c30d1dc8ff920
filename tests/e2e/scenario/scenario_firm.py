"""Harbour & Pike, a small consulting firm, from January to April 2026.

Everything here is input: what the PSA's database, the CRM, the HR system and
the ERP send the ledger, written as the files an operator feeds to
`psledger ingest debezium` (kcat -C -J JSONL) and `psledger ingest webhook`
(one JSON body per file). The invoices these inputs must produce are computed
by hand, from shared/reference/BILLING_RULES.md, in test_scenario_four_months.py.

Three contracts, each carrying part of the story:

SOW-HP-101  Northwind Retail, GB01, GBP, time and materials, 20% VAT,
            not-to-exceed 10000.00; rate card RC-HP-GB.
            Backlog: TE-101-04 worked 29 Jan, approved 4 Feb; TE-101-14 worked
            27 Feb, captured and approved in March.
            The cap holds TE-101-10 and TE-101-11 in February; the CRM raises
            it to 16000.00 from 1 March (amendment v2, approved by finance),
            and March releases them. In April TE-101-13, on March's invoice,
            is corrected at the source: its credit note counts against the
            cap as a negative amount, and the raised cap holds TE-101-17.
            TE-101-18 is not billable.
SOW-HP-202  Fabrikam Bank, DE01, EUR, retainer 8000.00 a month with 40 hours
            included, 19% VAT; rate card RC-HP-EU.
            Overage, entries split at the threshold (TE-202-04, TE-202-08,
            TE-202-10), a January entry approved in February (TE-202-04),
            the ERP rejects the February invoice in March, March's run
            re-issues it (-R1) and the ERP posts that in April; an EUR
            expense in April.
SOW-HP-303  Contoso Europe, GB01 billing in EUR, time and materials, 20% VAT,
            10% expense markup, one invoice per project (PRJ-303-A,
            PRJ-303-B); the GBP rate card RC-HP-GB and a USD expense are
            converted to EUR (FX). The rules file adds GBP->EUR 1.1500 from
            1 March to the reference rates (1.1630 from 1 January).
            TE-303-02 is corrected at the source in February after its
            January invoice was posted (credit note and rebill); TE-303-05 is
            worked in February, approved in March.

Rate card RC-HP-GB: consultant 100.00 to 28 Feb, 110.00 from 1 Mar (the March
line arrives in March); senior-consultant 150.00. RC-HP-EU: consultant
120.00, senior-consultant 160.00.

Like a weekly timesheet approval, one PSA transaction often carries entries of
several projects and contracts; when the change events arrive before the CRM
contracts, such a transaction waits (parked) for more than one project.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from scenario_debezium import Change, PsaTopics, Row

REFERENCE_RULES = Path(__file__).resolve().parents[3] / "psledger" / "data" / "tax_and_fx.json"
FINANCE = "fin.controller@harbourpike.example"
REJECTION = "PO 4500077001 is exhausted; the customer issues a new PO"
STAMP = datetime(2026, 1, 2, 8, 0, tzinfo=UTC)

PROJECTS = {
    # id: (contract, name, legal entity, project manager)
    "PRJ-101": ("SOW-HP-101", "Northwind store rollout", "GB01", "pm.grey"),
    "PRJ-202": ("SOW-HP-202", "Fabrikam advisory retainer", "DE01", "pm.vogel"),
    "PRJ-303-A": ("SOW-HP-303", "Contoso EU data platform", "GB01", "pm.hale"),
    "PRJ-303-B": ("SOW-HP-303", "Contoso EU reporting", "GB01", "pm.hale"),
}
WORKERS = {
    # id: (name, role, legal entity, cost rate, cost currency)
    "W-11": ("Alice Martin", "senior-consultant", "GB01", "68.00", "GBP"),
    "W-12": ("Ben Okafor", "consultant", "GB01", "52.00", "GBP"),
    "W-21": ("Eva Schulz", "senior-consultant", "DE01", "75.00", "EUR"),
    "W-22": ("Felix Wagner", "consultant", "DE01", "58.00", "EUR"),
    "W-31": ("Chloe Baker", "senior-consultant", "GB01", "70.00", "GBP"),
    "W-32": ("Dan Rivera", "consultant", "GB01", "50.00", "GBP"),
}
STAFFING = [  # (project, worker)
    ("PRJ-101", "W-11"),
    ("PRJ-101", "W-12"),
    ("PRJ-202", "W-21"),
    ("PRJ-202", "W-22"),
    ("PRJ-303-A", "W-31"),
    ("PRJ-303-A", "W-32"),
    ("PRJ-303-B", "W-31"),
    ("PRJ-303-B", "W-32"),
]


@dataclass(frozen=True)
class Month:
    """What reaches the ledger during one month, before its billing run."""

    period: str
    webhooks: list[Path]  # CRM, HR and ERP bodies
    change_events: Path  # the PSA's change events of the month
    amendments_to_approve: list[tuple[str, int]] = field(default_factory=list)


# -- PSA rows ------------------------------------------------------------------


def at(day: date, hour: int = 17) -> datetime:
    return datetime.combine(day, time(hour), UTC)


def rate_line(line_id: str, card: str, role: str, rate: str, start: date, end: date | None) -> Row:
    return {
        "id": line_id,
        "rate_card_id": card,
        "role": role,
        "hourly_rate": Decimal(rate),
        "effective_from": start,
        "effective_to": end,
        "updated_at": STAMP,
    }


def time_entry(
    te_id: str,
    project: str,
    worker: str,
    day: date,
    hours: str,
    *,
    approved_on: date | None = None,
    billable: bool = True,
) -> Row:
    """A time entry in the worker's role; approved by the project's manager on
    `approved_on` (two days after the work by default), or only submitted."""
    approved = approved_on is not None
    when = at(approved_on) if approved_on else None
    return {
        "id": te_id,
        "project_id": project,
        "worker_id": worker,
        "role": WORKERS[worker][1],
        "work_date": day,
        "hours": Decimal(hours),
        "billable": billable,
        "notes": f"{project} work",
        "status": "approved" if approved else "submitted",
        "approved_by": PROJECTS[project][3] if approved else None,
        "approved_at": when,
        "updated_at": when or at(day),
    }


def approved(te_id: str, project: str, worker: str, day: date, hours: str, **kw: Any) -> Row:
    kw.setdefault("approved_on", day + timedelta(days=2))
    return time_entry(te_id, project, worker, day, hours, **kw)


def submitted(te_id: str, project: str, worker: str, day: date, hours: str) -> Row:
    return time_entry(te_id, project, worker, day, hours)


def expense(
    ex_id: str, project: str, worker: str, day: date, category: str, amount: str, currency: str
) -> Row:
    when = at(day + timedelta(days=2), 10)
    return {
        "id": ex_id,
        "project_id": project,
        "worker_id": worker,
        "incurred_on": day,
        "category": category,
        "amount": Decimal(amount),
        "currency": currency,
        "billable": True,
        "receipt_ref": f"RCPT-{ex_id}",
        "status": "approved",
        "approved_by": PROJECTS[project][3],
        "approved_at": when,
        "updated_at": when,
    }


def created(*rows: Row, table: str = "time_entries") -> list[Change]:
    return [(table, "c", None, row) for row in rows]


def approval(row: Row, on: date) -> Change:
    """The PM approves a submitted entry in the PSA (an UPDATE)."""
    after = {
        **row,
        "status": "approved",
        "approved_by": PROJECTS[row["project_id"]][3],
        "approved_at": at(on, 9),
        "updated_at": at(on, 9),
    }
    return ("time_entries", "u", row, after)


def correction(row: Row, hours: str, on: date) -> Change:
    """The hours of an approved entry change at the source (an UPDATE)."""
    return ("time_entries", "u", row, {**row, "hours": Decimal(hours), "updated_at": at(on, 11)})


# -- webhooks -------------------------------------------------------------------


def webhook(kind: str, event_id: str, when: datetime, actor: str, data: dict[str, Any]) -> bytes:
    body = {
        "type": kind,
        "id": event_id,
        "occurred_at": when.isoformat().replace("+00:00", "Z"),
        "actor": actor,
        "data": data,
    }
    return json.dumps(body, indent=2).encode()


def sow_approved(event_id: str, when: datetime, **terms: Any) -> bytes:
    """A CRM `sow.approved` in the shape of shared/reference/webhooks/crm.sow.approved.json."""
    data = {
        "version": 1,
        "not_to_exceed": None,
        "retainer": None,
        "expense_markup_pct": "0",
        "invoice_frequency": "monthly",
        "consolidation": "per_contract",
        "po_number": None,
        "effective_to": None,
        "milestones": [],
        **terms,
    }
    return webhook("sow.approved", event_id, when, "asmith@harbourpike.example", data)


def customer(cid: str, name: str, country: str, currency: str, terms: int) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "erp_customer_no": f"C-{cid}",
        "country": country,
        "billing_currency": currency,
        "payment_terms_days": terms,
    }


def contracts() -> list[bytes]:
    return [
        sow_approved(
            "evt_crm_hp_0101",
            datetime(2026, 1, 2, 9, 30, tzinfo=UTC),
            contract_id="SOW-HP-101",
            customer=customer("ACC-HP-1", "Northwind Retail Ltd", "GB", "GBP", 30),
            legal_entity="GB01",
            currency="GBP",
            billing_method="time_and_materials",
            not_to_exceed="10000.00",
            rate_card_id="RC-HP-GB",
            tax_code="GB-VAT-STD",
            po_number="PO-101",
            effective_from="2026-01-01",
            effective_to="2026-12-31",
        ),
        sow_approved(
            "evt_crm_hp_0202",
            datetime(2026, 1, 2, 9, 45, tzinfo=UTC),
            contract_id="SOW-HP-202",
            customer=customer("ACC-HP-2", "Fabrikam Bank AG", "DE", "EUR", 30),
            legal_entity="DE01",
            currency="EUR",
            billing_method="retainer",
            retainer={"monthly_fee": "8000.00", "included_hours": "40.00"},
            rate_card_id="RC-HP-EU",
            tax_code="DE-VAT-STD",
            po_number="4500077001",
            effective_from="2026-01-01",
            effective_to="2026-12-31",
        ),
        sow_approved(
            "evt_crm_hp_0303",
            datetime(2026, 1, 2, 10, 0, tzinfo=UTC),
            contract_id="SOW-HP-303",
            customer=customer("ACC-HP-3", "Contoso Europe BV", "NL", "EUR", 45),
            legal_entity="GB01",
            currency="EUR",
            billing_method="time_and_materials",
            rate_card_id="RC-HP-GB",
            expense_markup_pct="10",
            tax_code="GB-VAT-STD",
            consolidation="per_project",
            effective_from="2026-01-01",
        ),
    ]


def workers() -> list[bytes]:
    return [
        webhook(
            "worker.updated",
            f"evt_hr_hp_{wid}",
            STAMP,
            "hr-integration",
            {
                "worker_id": wid,
                "name": name,
                "role": role,
                "legal_entity": entity,
                "cost_rate": cost,
                "cost_currency": currency,
                "effective_from": "2026-01-01",
                "active": True,
            },
        )
        for wid, (name, role, entity, cost, currency) in WORKERS.items()
    ]


def cap_raised() -> bytes:
    """Change order CO-7 on SOW-HP-101: the cap goes from 10000.00 to 16000.00 on 1 March."""
    return webhook(
        "sow.amended",
        "evt_crm_hp_0107",
        datetime(2026, 3, 2, 9, 40, tzinfo=UTC),
        "jdoe@harbourpike.example",
        {
            "contract_id": "SOW-HP-101",
            "version": 2,
            "reason": "Change order CO-7: store rollout phase 2, higher cap",
            "changes": {"not_to_exceed": "16000.00"},
            "effective_from": "2026-03-01",
        },
    )


def posted(number: str, document: str, day: date) -> bytes:
    """The ERP confirms the posting of an invoice (legal entity from its number)."""
    return webhook(
        "invoice.posted",
        f"evt_erp_{document}",
        at(day, 11),
        "d365-finance",
        {
            "invoice_number": number,
            "erp_document_no": document,
            "posted_at": at(day, 11).isoformat().replace("+00:00", "Z"),
            "legal_entity": number[:4],
        },
    )


def rejected(number: str, reason: str, day: date) -> bytes:
    """The ERP refuses an invoice."""
    return webhook(
        "invoice.rejected",
        f"evt_erp_rejected_{number}",
        at(day, 11),
        "d365-finance",
        {"invoice_number": number, "reason": reason, "legal_entity": number[:4]},
    )


# -- the PSA, month by month ---------------------------------------------------------

RC_GB, RC_EU = "RC-HP-GB", "RC-HP-EU"
D = date


def master_data(psa: PsaTopics) -> None:
    """The connector's initial snapshot: rate cards, projects and staffing."""
    psa.snapshot(
        "rate_cards",
        [
            {"id": RC_GB, "name": "UK standard 2026", "currency": "GBP", "updated_at": STAMP},
            {"id": RC_EU, "name": "EU standard 2026", "currency": "EUR", "updated_at": STAMP},
        ],
        STAMP,
    )
    psa.snapshot(
        "rate_card_lines",
        [
            rate_line("RCL-GB-1", RC_GB, "consultant", "100.00", D(2026, 1, 1), D(2026, 2, 28)),
            rate_line("RCL-GB-2", RC_GB, "senior-consultant", "150.00", D(2026, 1, 1), None),
            rate_line("RCL-EU-1", RC_EU, "consultant", "120.00", D(2026, 1, 1), None),
            rate_line("RCL-EU-2", RC_EU, "senior-consultant", "160.00", D(2026, 1, 1), None),
        ],
        STAMP,
    )
    psa.snapshot(
        "projects",
        [
            {
                "id": pid,
                "contract_id": contract,
                "name": name,
                "legal_entity": entity,
                "project_manager": pm,
                "status": "active",
                "updated_at": STAMP,
            }
            for pid, (contract, name, entity, pm) in PROJECTS.items()
        ],
        STAMP,
    )
    psa.snapshot(
        "assignments",
        [
            {
                "id": f"ASG-{project}-{worker}",
                "project_id": project,
                "worker_id": worker,
                "role": WORKERS[worker][1],
                "start_date": D(2026, 1, 1),
                "end_date": D(2026, 6, 30),
                "planned_hours": Decimal("160.00"),
                "status": "confirmed",
                "updated_at": STAMP,
            }
            for project, worker in STAFFING
        ],
        STAMP,
    )


# Entries that change in a later month, kept so their before-images match.
TE_101_04 = submitted("TE-101-04", "PRJ-101", "W-12", D(2026, 1, 29), "8.00")
TE_202_04 = submitted("TE-202-04", "PRJ-202", "W-22", D(2026, 1, 27), "13.00")
TE_303_02 = approved("TE-303-02", "PRJ-303-A", "W-32", D(2026, 1, 15), "6.50")
TE_303_05 = submitted("TE-303-05", "PRJ-303-A", "W-32", D(2026, 2, 26), "7.75")
TE_101_13 = approved("TE-101-13", "PRJ-101", "W-11", D(2026, 3, 5), "6.50")


def january(psa: PsaTopics) -> list[bytes]:
    """January's PSA changes; returns the month's webhooks."""
    master_data(psa)
    psa.commit(
        at(D(2026, 1, 9)),
        *created(
            approved("TE-101-01", "PRJ-101", "W-11", D(2026, 1, 6), "8.00"),
            approved("TE-101-02", "PRJ-101", "W-12", D(2026, 1, 7), "7.50"),
            approved("TE-202-01", "PRJ-202", "W-21", D(2026, 1, 8), "10.00"),
        ),
    )
    psa.commit(
        at(D(2026, 1, 16)),
        *created(
            approved("TE-303-01", "PRJ-303-A", "W-31", D(2026, 1, 12), "7.00"),
            approved("TE-202-02", "PRJ-202", "W-22", D(2026, 1, 13), "12.00"),
            TE_303_02,
        ),
        *created(
            expense("EX-101-01", "PRJ-101", "W-11", D(2026, 1, 14), "travel", "186.40", "GBP"),
            table="expense_items",
        ),
    )
    psa.commit(
        at(D(2026, 1, 23)),
        *created(
            approved("TE-101-03", "PRJ-101", "W-11", D(2026, 1, 20), "6.00"),
            approved("TE-303-03", "PRJ-303-B", "W-31", D(2026, 1, 21), "3.25"),
            approved("TE-202-03", "PRJ-202", "W-21", D(2026, 1, 22), "8.00"),
        ),
    )
    psa.commit(
        at(D(2026, 1, 29)),
        *created(
            expense("EX-303-01", "PRJ-303-B", "W-32", D(2026, 1, 22), "travel", "412.37", "USD"),
            table="expense_items",
        ),
    )
    # submitted at month end, approved only in February: backlog
    psa.commit(at(D(2026, 1, 30)), *created(TE_202_04, TE_101_04))
    return [*contracts(), *workers()]


def february(psa: PsaTopics) -> list[bytes]:
    """February's PSA changes; returns the month's webhooks."""
    psa.commit(at(D(2026, 2, 3), 9), approval(TE_202_04, D(2026, 2, 3)))
    psa.commit(at(D(2026, 2, 4), 9), approval(TE_101_04, D(2026, 2, 4)))
    # TE-303-02 was invoiced (and posted) at 6.50 h: it really was 5.50 h
    psa.commit(at(D(2026, 2, 5), 11), correction(TE_303_02, "5.50", D(2026, 2, 5)))
    psa.commit(
        at(D(2026, 2, 13)),
        *created(
            approved("TE-101-05", "PRJ-101", "W-11", D(2026, 2, 3), "8.00"),
            approved("TE-202-05", "PRJ-202", "W-21", D(2026, 2, 3), "12.00"),
            approved("TE-101-06", "PRJ-101", "W-12", D(2026, 2, 5), "8.00"),
            approved("TE-303-04", "PRJ-303-A", "W-31", D(2026, 2, 9), "8.00"),
            approved("TE-101-07", "PRJ-101", "W-11", D(2026, 2, 10), "8.00"),
            approved("TE-202-06", "PRJ-202", "W-22", D(2026, 2, 10), "16.00"),
            approved("TE-101-08", "PRJ-101", "W-12", D(2026, 2, 12), "8.00"),
        ),
    )
    psa.commit(
        at(D(2026, 2, 27)),
        *created(
            approved("TE-101-09", "PRJ-101", "W-11", D(2026, 2, 17), "8.00"),
            approved("TE-202-07", "PRJ-202", "W-21", D(2026, 2, 17), "10.00"),
            approved("TE-101-10", "PRJ-101", "W-11", D(2026, 2, 24), "8.00"),
            approved("TE-202-08", "PRJ-202", "W-22", D(2026, 2, 24), "9.50"),
            approved(
                "TE-101-11", "PRJ-101", "W-11", D(2026, 2, 26), "7.00", approved_on=D(2026, 2, 27)
            ),
            TE_303_05,
        ),
    )
    # the ERP posts all of January
    return [
        posted("GB01-SOW-HP-101-2026-01", "FTI-HP-1001", D(2026, 2, 2)),
        posted("DE01-SOW-HP-202-2026-01", "FTI-HP-1002", D(2026, 2, 2)),
        posted("GB01-SOW-HP-303-2026-01-PRJ-303-A", "FTI-HP-1003", D(2026, 2, 3)),
        posted("GB01-SOW-HP-303-2026-01-PRJ-303-B", "FTI-HP-1004", D(2026, 2, 3)),
    ]


def march(psa: PsaTopics) -> list[bytes]:
    """March's PSA changes; returns the month's webhooks (finance approves the
    amendment before the run: see `write_firm`)."""
    psa.commit(
        at(D(2026, 3, 2), 8),
        (
            "rate_card_lines",
            "c",
            None,
            rate_line("RCL-GB-3", RC_GB, "consultant", "110.00", D(2026, 3, 1), None)
            | {"updated_at": at(D(2026, 3, 2), 8)},
        ),
    )
    psa.commit(at(D(2026, 3, 3), 9), approval(TE_303_05, D(2026, 3, 3)))
    psa.commit(
        at(D(2026, 3, 6)),
        *created(
            approved("TE-101-12", "PRJ-101", "W-12", D(2026, 3, 3), "8.00"),
            approved("TE-202-09", "PRJ-202", "W-22", D(2026, 3, 4), "20.00"),
            TE_101_13,
            # worked on 27 Feb, entered late and approved in March: backlog
            approved(
                "TE-101-14", "PRJ-101", "W-12", D(2026, 2, 27), "4.00", approved_on=D(2026, 3, 5)
            ),
        ),
    )
    psa.commit(
        at(D(2026, 3, 20)),
        *created(
            approved("TE-303-06", "PRJ-303-B", "W-32", D(2026, 3, 10), "8.00"),
            approved("TE-202-10", "PRJ-202", "W-21", D(2026, 3, 11), "24.00"),
            approved("TE-202-11", "PRJ-202", "W-22", D(2026, 3, 18), "5.00"),
        ),
        *created(
            expense("EX-303-02", "PRJ-303-B", "W-31", D(2026, 3, 11), "lodging", "230.00", "GBP"),
            table="expense_items",
        ),
    )
    return [
        rejected("DE01-SOW-HP-202-2026-02", REJECTION, D(2026, 3, 4)),
        cap_raised(),
        # February's other invoices stay issued (not yet posted)
    ]


def april(psa: PsaTopics) -> list[bytes]:
    """April's PSA changes; returns the month's webhooks."""
    # TE-101-13 is on March's invoice (issued, not posted) at 6.50 h: it was 4.50 h
    psa.commit(at(D(2026, 4, 3), 11), correction(TE_101_13, "4.50", D(2026, 4, 3)))
    psa.commit(
        at(D(2026, 4, 17)),
        *created(
            approved("TE-303-07", "PRJ-303-A", "W-31", D(2026, 4, 2), "4.00"),
            approved("TE-101-15", "PRJ-101", "W-11", D(2026, 4, 7), "8.00"),
            approved("TE-202-12", "PRJ-202", "W-21", D(2026, 4, 8), "6.00"),
            approved("TE-101-16", "PRJ-101", "W-12", D(2026, 4, 9), "8.00"),
            approved("TE-101-17", "PRJ-101", "W-11", D(2026, 4, 14), "8.00"),
            approved("TE-101-18", "PRJ-101", "W-11", D(2026, 4, 15), "2.00", billable=False),
        ),
        *created(
            expense("EX-202-01", "PRJ-202", "W-21", D(2026, 4, 9), "lodging", "245.50", "EUR"),
            table="expense_items",
        ),
    )
    return [posted("DE01-SOW-HP-202-2026-02-R1", "FTI-HP-1101", D(2026, 4, 2))]


# -- files ---------------------------------------------------------------------------


def write_rules(directory: Path) -> Path:
    """The reference tax codes and FX rates, plus GBP->EUR 1.1500 from 1 March 2026."""
    rules = json.loads(REFERENCE_RULES.read_text())
    rules["fx_rates"].append(
        {"from": "GBP", "to": "EUR", "rate": "1.1500", "effective_from": "2026-03-01"}
    )
    path = directory / "tax_and_fx.json"
    path.write_text(json.dumps(rules, indent=2))
    return path


# a month to write: its period, what it captures (webhook bodies returned,
# PSA changes committed), and the amendment approvals finance makes in it
MonthPlan = tuple[str, Callable[[PsaTopics], list[bytes]], list[tuple[str, int]]]


def write_firm(directory: Path, later: Sequence[MonthPlan] = ()) -> list[Month]:
    """Write every input file under `directory`; the months in order (the
    four of the scenario, then `later` ones a test adds)."""
    hooks = directory / "webhooks"
    hooks.mkdir(parents=True, exist_ok=True)
    psa = PsaTopics()
    months = []
    for period, capture, approvals in (
        ("2026-01", january, []),
        ("2026-02", february, []),
        ("2026-03", march, [("SOW-HP-101", 2)]),
        ("2026-04", april, []),
        *later,
    ):
        paths = []
        for body in capture(psa):
            path = hooks / f"{json.loads(body)['id']}.json"
            path.write_bytes(body)
            paths.append(path)
        months.append(Month(period, paths, psa.dump(directory / f"psa-{period}.jsonl"), approvals))
    return months
