"""The dashboard's figures computed again, independently of psledger.ops:
from the CLI's JSON answers and the demo firm's own source rows."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from ops_support import cli_json

from psledger.demo import firm


def items(store: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = cli_json(store, "items", "--format", "json")
    return found


def project_contracts(store: str, project_ids: set[str]) -> dict[str, str]:
    found = {}
    for pid in sorted(project_ids):
        found[pid] = cli_json(store, "show", f"project:{pid}")[0]["details"]["contract_id"]
    return found


def readiness(store: str) -> dict[str, Counter[str]]:
    """contract -> counts of 'state:S' and 'exception:CODE'."""
    all_items = items(store)
    contracts = project_contracts(store, {i["project_id"] for i in all_items if i["project_id"]})
    found: dict[str, Counter[str]] = defaultdict(Counter)
    for item in all_items:
        contract = contracts.get(item["project_id"], "-")
        found[contract][f"state:{item['state']}"] += 1
        if item["exception"]:
            found[contract][f"exception:{item['exception']['code']}"] += 1
    return found


def stuck(store: str, days: int = 7) -> dict[str, int]:
    cutoff = datetime.now(UTC) - timedelta(days=days)
    found: Counter[str] = Counter()
    for item in items(store):
        waiting = item["state"] in ("approved", "billable") and not item["withdrawn"]
        if waiting and datetime.fromisoformat(item["approved_at"]) <= cutoff:
            found[item["project_id"]] += 1
    return dict(found)


def aging(store: str) -> tuple[dict[str, int], list[str]]:
    invoices = cli_json(store, "invoices", "--format", "json")
    buckets = {"0-30": 0, "31-60": 0, "61-90": 0, "90+": 0}
    today = datetime.now(UTC).date()
    for inv in invoices:
        if inv["state"] == "issued":
            age = (today - date.fromisoformat(inv["invoice_date"])).days
            name = (
                "0-30" if age <= 30 else "31-60" if age <= 60 else "61-90" if age <= 90 else "90+"
            )
            buckets[name] += 1
    rejected = sorted(inv["number"] for inv in invoices if inv["state"] == "rejected")
    return buckets, rejected


def utilization(store: str) -> dict[tuple[str, str], dict[str, Decimal]]:
    """(project, worker) -> planned hours (the PSA's assignment rows), approved
    hours, and cost at the HR cost rate (the HR webhooks)."""
    rates = {}
    for body in firm.worker_webhooks():
        data = json.loads(body)["data"]
        rates[data["worker_id"]] = Decimal(data["cost_rate"])
    found: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(
        lambda: {"planned": Decimal(0), "approved": Decimal(0), "cost": Decimal(0)}
    )
    for row in firm.assignments():
        found[(row["project_id"], row["worker_id"])]["planned"] += Decimal(row["planned_hours"])
    for item in items(store):
        worked = item["state"] in ("approved", "billable", "invoiced", "posted")
        if item["kind"] == "time_entry" and not item["withdrawn"] and worked:
            key = (item["project_id"], item["fields"]["worker_id"])
            hours = Decimal(item["fields"]["hours"])
            found[key]["approved"] += hours
            found[key]["cost"] += hours * rates[item["fields"]["worker_id"]]
    return dict(found)


def hr_latency_days(store: str) -> list[float]:
    """Each HR worker event's latency (recorded minus occurred), in days, in recorded order."""
    found = []
    for body in firm.worker_webhooks():
        worker = json.loads(body)["data"]["worker_id"]
        for entry in cli_json(store, "history", worker, "--format", "json"):
            if entry["provenance"]["source_system"] == "hr":
                recorded = datetime.fromisoformat(entry["recorded_at"])
                business = datetime.fromisoformat(entry["business_time"])
                found.append((recorded, (recorded - business).total_seconds() / 86400))
    return [days for _, days in sorted(found)]
