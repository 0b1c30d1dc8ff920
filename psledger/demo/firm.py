"""The demo firm: PSA rows for January and February 2026.

Three contracts from the reference webhooks (time and materials with a
not-to-exceed cap amended mid-February; fixed price with milestones; a
retainer with overage), workers in GB01, DE01 and US01, a rate change on
15 February, a late approval, a correction after invoicing, a project put
on hold and a role without a rate.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

Row = dict[str, Any]
STAMP = datetime(2026, 1, 2, 9, 0, tzinfo=UTC)

WORKERS = [
    ("W-1001", "Alice Martin", "senior-consultant", "GB01", "68.00", "GBP"),
    ("W-1002", "Ben Okafor", "consultant", "GB01", "52.00", "GBP"),
    ("W-1003", "Chloe Baker", "partner", "GB01", "110.00", "GBP"),
    ("W-2001", "Dan Rivera", "consultant", "US01", "70.00", "USD"),
    ("W-3001", "Eva Schulz", "senior-consultant", "DE01", "75.00", "EUR"),
    ("W-3002", "Felix Wagner", "consultant", "DE01", "58.00", "EUR"),
]


def rate_cards() -> list[Row]:
    return [
        {"id": "RC-GB-2026", "name": "UK standard 2026", "currency": "GBP", "updated_at": STAMP},
        {"id": "RC-US-2026", "name": "US standard 2026", "currency": "USD", "updated_at": STAMP},
        {"id": "RC-EU-2026", "name": "EU standard 2026", "currency": "EUR", "updated_at": STAMP},
    ]


def _line(
    line_id: str, card: str, role: str, rate: str, start: date, end: date | None = None
) -> Row:
    return {
        "id": line_id,
        "rate_card_id": card,
        "role": role,
        "hourly_rate": Decimal(rate),
        "effective_from": start,
        "effective_to": end,
        "updated_at": STAMP,
    }


def rate_card_lines() -> list[Row]:
    jan1 = date(2026, 1, 1)
    return [
        _line("RCL-GB-1", "RC-GB-2026", "consultant", "110.00", jan1, date(2026, 2, 14)),
        _line("RCL-GB-2", "RC-GB-2026", "senior-consultant", "150.00", jan1),
        _line("RCL-GB-3", "RC-GB-2026", "partner", "250.00", jan1),
        _line("RCL-US-1", "RC-US-2026", "consultant", "140.00", jan1),
        _line("RCL-EU-1", "RC-EU-2026", "consultant", "120.00", jan1),
        _line("RCL-EU-2", "RC-EU-2026", "senior-consultant", "160.00", jan1),
    ]


def rate_change() -> Row:
    """From 15 February consultants cost GBP 120.00 on the UK card."""
    return _line("RCL-GB-4", "RC-GB-2026", "consultant", "120.00", date(2026, 2, 15))


def projects() -> list[Row]:
    def project(pid: str, contract: str, name: str, le: str, pm: str) -> Row:
        return {
            "id": pid,
            "contract_id": contract,
            "name": name,
            "legal_entity": le,
            "project_manager": pm,
            "status": "active",
            "updated_at": STAMP,
        }

    return [
        project("PRJ-NW-1", "SOW-1042", "Northwind store rollout", "GB01", "pm.grey"),
        project("PRJ-NW-2", "SOW-1042", "Northwind loyalty pilot", "GB01", "pm.grey"),
        project("PRJ-CT-1", "SOW-2001", "Contoso MES implementation", "US01", "pm.hale"),
        project("PRJ-FB-1", "SOW-3007", "Fabrikam advisory retainer", "DE01", "pm.vogel"),
    ]


def assignments() -> list[Row]:
    plan = [
        ("ASG-1", "PRJ-NW-1", "W-1001", "senior-consultant", "320"),
        ("ASG-2", "PRJ-NW-1", "W-1002", "consultant", "320"),
        ("ASG-3", "PRJ-NW-1", "W-1003", "partner", "80"),
        ("ASG-4", "PRJ-CT-1", "W-2001", "consultant", "240"),
        ("ASG-5", "PRJ-FB-1", "W-3001", "senior-consultant", "160"),
        ("ASG-6", "PRJ-FB-1", "W-3002", "consultant", "120"),
    ]
    return [
        {
            "id": a,
            "project_id": p,
            "worker_id": w,
            "role": r,
            "start_date": date(2026, 1, 5),
            "end_date": date(2026, 6, 30),
            "planned_hours": Decimal(h),
            "status": "confirmed",
            "updated_at": STAMP,
        }
        for a, p, w, r, h in plan
    ]


def working_days(year: int, month: int, first: int = 1, last: int = 31) -> list[date]:
    days = []
    day = date(year, month, first)
    while day.month == month and day.day <= last:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    return days


def time_entry(
    te_id: str,
    project: str,
    worker: str,
    role: str,
    day: date,
    hours: str,
    approver: str | None,
    *,
    billable: bool = True,
) -> Row:
    approved_at = (
        datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=3, hours=17)
        if approver
        else None
    )
    return {
        "id": te_id,
        "project_id": project,
        "worker_id": worker,
        "role": role,
        "work_date": day,
        "hours": Decimal(hours),
        "billable": billable,
        "notes": None,
        "status": "approved" if approver else "submitted",
        "approved_by": approver,
        "approved_at": approved_at,
        "updated_at": approved_at or STAMP,
    }


def month_time(month: int, start: int) -> list[Row]:
    """Time entries of one month; ids numbered from `start`."""
    rows: list[Row] = []
    n = start
    days = working_days(2026, month, 5 if month == 1 else 2, 27)

    def add(
        project: str, worker: str, role: str, day: date, hours: str, approver: str, **kw: Any
    ) -> None:
        nonlocal n
        rows.append(time_entry(f"TE-{n:04d}", project, worker, role, day, hours, approver, **kw))
        n += 1

    for day in days:
        add("PRJ-NW-1", "W-1001", "senior-consultant", day, "8.00", "pm.grey")
        add("PRJ-NW-1", "W-1002", "consultant", day, "7.50", "pm.grey")
        if day.weekday() in (1, 3):
            add("PRJ-NW-1", "W-1003", "partner", day, "6.00", "pm.grey")
        add("PRJ-CT-1", "W-2001", "consultant", day, "6.00", "pm.hale")
        if day.weekday() < 4:
            add(
                "PRJ-FB-1",
                "W-3001",
                "senior-consultant",
                day,
                "3.50" if month == 1 else "4.00",
                "pm.vogel",
            )
        if day.weekday() in (0, 2, 4):
            add(
                "PRJ-FB-1",
                "W-3002",
                "consultant",
                day,
                "2.50" if month == 1 else "4.00",
                "pm.vogel",
            )
    return rows


def expenses() -> list[Row]:
    def expense(
        eid: str,
        project: str,
        worker: str,
        day: date,
        category: str,
        amount: str,
        currency: str,
        approver: str,
    ) -> Row:
        at = datetime.combine(day, datetime.min.time(), UTC) + timedelta(days=2, hours=10)
        return {
            "id": eid,
            "project_id": project,
            "worker_id": worker,
            "incurred_on": day,
            "category": category,
            "amount": Decimal(amount),
            "currency": currency,
            "billable": True,
            "receipt_ref": f"RCPT-{eid}",
            "status": "approved",
            "approved_by": approver,
            "approved_at": at,
            "updated_at": at,
        }

    return [
        expense(
            "EX-0001", "PRJ-NW-1", "W-1001", date(2026, 1, 14), "travel", "412.40", "GBP", "pm.grey"
        ),
        expense(
            "EX-0002",
            "PRJ-NW-1",
            "W-1003",
            date(2026, 1, 21),
            "lodging",
            "389.00",
            "EUR",
            "pm.grey",
        ),
        expense(
            "EX-0003",
            "PRJ-CT-1",
            "W-2001",
            date(2026, 1, 16),
            "travel",
            "1249.99",
            "USD",
            "pm.hale",
        ),
        expense(
            "EX-0004",
            "PRJ-FB-1",
            "W-3001",
            date(2026, 2, 11),
            "travel",
            "286.30",
            "EUR",
            "pm.vogel",
        ),
    ]


def milestone(ms_id: str, name: str, amount: str, due: date, accepted: datetime | None) -> Row:
    return {
        "id": ms_id,
        "project_id": "PRJ-CT-1",
        "name": name,
        "amount": Decimal(amount),
        "currency": "USD",
        "due_date": due,
        "status": "accepted" if accepted else "planned",
        "accepted_by": "c.jones@contoso.example" if accepted else None,
        "accepted_at": accepted,
        "updated_at": accepted or STAMP,
    }


def webhook(kind: str, event_id: str, at: datetime, actor: str, data: Row) -> bytes:
    import orjson

    return orjson.dumps(
        {"type": kind, "id": event_id, "occurred_at": at.isoformat(), "actor": actor, "data": data}
    )


def worker_webhooks() -> list[bytes]:
    return [
        webhook(
            "worker.updated",
            f"evt_hr_{9900 + n}",
            STAMP,
            "hr-integration",
            {
                "worker_id": wid,
                "name": name,
                "role": role,
                "legal_entity": le,
                "cost_rate": cost,
                "cost_currency": currency,
                "effective_from": "2026-01-01",
                "active": True,
            },
        )
        for n, (wid, name, role, le, cost, currency) in enumerate(WORKERS)
    ]
