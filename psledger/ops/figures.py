"""The operations figures, computed from the store; `/ops` and `psledger
status` show them.

Work items and invoices come from the read side's views (the caller
catches them up first); quarantine and parked rows from their tables;
assignments and workers (few) from their aggregates. Sync latency is read
from the most recent `WINDOW` stored events: an event's latency is from its
source's commit (provenance business time) to the ledger's recording.

Every function takes `now`, so a figure is a pure function of the store
and the moment it is asked.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson

from domain.project import Assignment
from domain.provenance import Provenance
from domain.worker import Worker
from psledger.app import LedgerApplication

WINDOW = 5000
CENT = Decimal("0.01")
AGING_BUCKETS = ((0, 30), (31, 60), (61, 90), (91, None))
WORKED = ("approved", "billable", "invoiced", "posted")  # approved hours
BILLED = ("invoiced", "posted")  # revenue
OPEN = ("approved", "billable")  # approved, not yet invoiced


def p95(values: list[float]) -> float | None:
    """The nearest-rank 95th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


def event_source(provenance: Provenance) -> str | None:
    """Where an event came from: its topic (CDC) or webhook:SYSTEM; None for the ledger's own."""
    if provenance.source_system == "ledger":
        return None
    if provenance.source_system == "psa":
        return provenance.topic or f"psa:{provenance.table}"
    return "webhook:" + provenance.source_system


def sync(app: LedgerApplication, now: datetime, window: int = WINDOW) -> list[dict[str, Any]]:
    """Per source, over the last `window` events: count, last and p95 latency
    (seconds), when the last event was recorded and its age."""
    last = int(app.recorder.max_notification_id() or 0)
    page = app.recorder.select_notifications(max(last - window + 1, 1), window) if last else []
    latencies: dict[str, list[float]] = defaultdict(list)
    recorded: dict[str, datetime] = {}
    for notification in page:
        event: Any = app.mapper.to_domain_event(notification)
        provenance = getattr(event, "provenance", None)
        if not isinstance(provenance, Provenance):
            continue
        source = event_source(provenance)
        business = provenance.business_time
        if source is None or business is None:
            continue
        latencies[source].append((event.timestamp - business).total_seconds())
        recorded[source] = event.timestamp
    return [
        {
            "source": source,
            "events": len(values),
            "last_latency_s": values[-1],
            "p95_latency_s": p95(values),
            "last_recorded_at": recorded[source].isoformat(),
            "age_s": (now - recorded[source]).total_seconds(),
        }
        for source, values in sorted(latencies.items())
    ]


def set_aside(app: LedgerApplication) -> dict[str, Any]:
    """Open quarantined and parked units, grouped by reason, each with its ids."""
    quarantine: dict[str, list[dict[str, str]]] = defaultdict(list)
    for qid, source, reason, detail, created in app.fetch(
        "SELECT id, source, reason, detail, created_at FROM psledger_quarantine "
        "WHERE status = 'open' ORDER BY created_at, id"
    ):
        quarantine[str(reason)].append(
            {"id": str(qid), "source": str(source), "detail": str(detail), "at": str(created)}
        )
    parked: dict[str, list[dict[str, str]]] = defaultdict(list)
    for pid, waits_for, source, parked_at in app.fetch(
        "SELECT id, waits_for, source, parked_at FROM psledger_parked ORDER BY parked_at, id"
    ):
        parked[parked_reason(str(waits_for))].append(
            {
                "id": str(pid),
                "source": str(source),
                "waits_for": str(waits_for),
                "at": str(parked_at),
            }
        )
    return {"quarantine": dict(sorted(quarantine.items())), "parked": dict(sorted(parked.items()))}


def parked_reason(waits_for: str) -> str:
    """A parked unit's reason: what kind of record it waits for."""
    kind = waits_for.split(":", 1)[0] if ":" in waits_for else waits_for
    return f"waits_for_{kind}"


@contextmanager
def _items(app: LedgerApplication, states: Sequence[str]) -> Iterator[Iterator[dict[str, Any]]]:
    """The views of the items in these states (the view's indexed column),
    streamed from one snapshot: a batch in memory, not the history."""
    marks = ", ".join([app.tables.d.placeholder] * len(states))
    sql = f"SELECT view FROM psledger_view_items WHERE state IN ({marks})"
    with app.snapshot() as snapshot:
        yield (orjson.loads(view) for (view,) in snapshot.stream(sql, list(states)))


def _invoices(app: LedgerApplication) -> list[dict[str, Any]]:
    """Every invoice's summary (its view without lines)."""
    return [orjson.loads(row[0]) for row in app.fetch("SELECT summary FROM psledger_view_invoices")]


def stuck(app: LedgerApplication, now: datetime, days: int = 7) -> list[dict[str, Any]]:
    """Per project: items approved more than `days` ago and not yet invoiced."""
    cutoff = now - timedelta(days=days)
    found: dict[str, dict[str, Any]] = {}
    with _items(app, OPEN) as items:
        for item in items:
            if item["withdrawn"]:
                continue
            if not item["approved_at"] or datetime.fromisoformat(item["approved_at"]) > cutoff:
                continue
            project = item["project_id"] or "-"
            row = found.setdefault(project, {"project": project, "count": 0})
            row["count"] += 1
            hours = Decimal(item["fields"].get("hours") or 0)
            row["hours"] = row.get("hours", Decimal(0)) + hours
            row["oldest"] = min(row.get("oldest", item["approved_at"]), item["approved_at"])
    return [{**r, "hours": str(r["hours"])} for _, r in sorted(found.items())]


def aging(app: LedgerApplication, now: datetime) -> dict[str, Any]:
    """Invoices issued and not posted, by days since their invoice date; rejections."""
    buckets = {_bucket_name(b): 0 for b in AGING_BUCKETS}
    rejected = []
    for invoice in _invoices(app):
        if invoice["state"] == "rejected":
            rejected.append({"number": invoice["number"], "reason": invoice["rejection_reason"]})
        if invoice["state"] != "issued":
            continue
        age = (now.date() - date.fromisoformat(invoice["invoice_date"])).days
        for low, high in AGING_BUCKETS:
            if age >= low and (high is None or age <= high):
                buckets[_bucket_name((low, high))] += 1
    return {"buckets": buckets, "rejected": sorted(rejected, key=lambda r: r["number"])}


def _bucket_name(bucket: tuple[int, int | None]) -> str:
    low, high = bucket
    return f"{low}-{high}" if high is not None else f"{low - 1}+"


def readiness(app: LedgerApplication) -> list[dict[str, Any]]:
    """Per contract: work items by state, and by exception code."""
    rows = app.fetch(
        "SELECT e.parent_id, i.state, i.exception_code, COUNT(*) FROM psledger_view_items i "
        "LEFT JOIN psledger_view_entities e ON e.kind = 'project' AND e.business_id = i.project_id "
        "GROUP BY e.parent_id, i.state, i.exception_code"
    )
    found: dict[str, dict[str, Any]] = {}
    for contract, state, exception, count in rows:
        row = found.setdefault(str(contract or "-"), {"states": {}, "exceptions": {}})
        row["states"][state] = row["states"].get(state, 0) + int(count)
        if exception:
            row["exceptions"][exception] = row["exceptions"].get(exception, 0) + int(count)
    return [{"contract": c, **found[c]} for c in sorted(found)]


def utilization(app: LedgerApplication) -> list[dict[str, Any]]:
    """Per project and worker: planned hours (assignments), approved hours,
    utilization against plan, revenue billed and cost at the HR cost rate."""
    planned: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for aid in _entity_ids(app, "assignment"):
        details: dict[str, Any] = app.repository.get(Assignment.id_for(aid)).details
        key = (str(details.get("project_id")), str(details.get("worker_id")))
        planned[key] += Decimal(str(details.get("planned_hours") or 0))
    workers: dict[str, Worker] = {
        w: app.repository.get(Worker.id_for(w)) for w in _entity_ids(app, "worker")
    }
    hours: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    revenue: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    cost: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    with _items(app, WORKED) as items:
        for item in items:
            worker_id = item["fields"].get("worker_id")
            if item["kind"] != "time_entry" or item["withdrawn"]:
                continue
            key = (str(item["project_id"]), str(worker_id))
            spent = Decimal(item["fields"].get("hours") or 0)
            hours[key] += spent
            profile = (
                workers[worker_id].profile_on(date.fromisoformat(item["date"]))
                if (worker_id in workers and item["date"])
                else None
            )
            if profile and profile.get("cost_rate") is not None:
                cost[key][profile["cost_currency"]] += spent * Decimal(str(profile["cost_rate"]))
            if item["state"] in BILLED:
                for line in item["priced"] or []:
                    revenue[key][line["currency"]] += Decimal(line["net"])
    return [_utilization_row(k, planned, hours, revenue, cost) for k in sorted({*planned, *hours})]


def _utilization_row(
    key: tuple[str, str],
    planned: dict[tuple[str, str], Decimal],
    hours: dict[tuple[str, str], Decimal],
    revenue: dict[tuple[str, str], dict[str, Decimal]],
    cost: dict[tuple[str, str], dict[str, Decimal]],
) -> dict[str, Any]:
    plan, done = planned.get(key, Decimal(0)), hours.get(key, Decimal(0))
    rev, cst = dict(revenue.get(key, {})), dict(cost.get(key, {}))
    margin = None
    currencies = set(rev) | set(cst)
    if len(currencies) == 1:
        currency = currencies.pop()
        earned = rev.get(currency, Decimal(0)) - cst.get(currency, Decimal(0))
        margin = {currency: str(earned.quantize(CENT))}
    return {
        "project": key[0],
        "worker": key[1],
        "planned_hours": str(plan),
        "approved_hours": str(done),
        "utilization": float(done / plan) if plan else None,
        "revenue": {c: str(v) for c, v in sorted(rev.items())},
        "cost": {c: str(v.quantize(CENT)) for c, v in sorted(cst.items())},
        "margin": margin,
    }


def _entity_ids(app: LedgerApplication, kind: str) -> list[str]:
    return [str(row[0]) for row in app.fetch(app.tables.q_entities(False), (kind,))]


def dashboard(app: LedgerApplication, now: datetime, stuck_days: int = 7) -> dict[str, Any]:
    """Everything `/ops` shows."""
    return {
        "now": now.isoformat(),
        "stuck_days": stuck_days,
        "sync": sync(app, now),
        "set_aside": set_aside(app),
        "stuck": stuck(app, now, stuck_days),
        "aging": aging(app, now),
        "readiness": readiness(app),
        "utilization": utilization(app),
    }
