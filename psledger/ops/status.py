"""The one-screen summary behind `psledger status`, and the store gauges
that `/metrics` reads at scrape time.

Both work from the same tables on SQLite and PostgreSQL: source positions,
quarantine and parked rows, the items view (open billing exceptions), the
views' tracking positions, and the lineage view for the last billing run.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

import orjson

from psledger.ops import figures
from psledger.read_side import ReadSide
from psledger.settings import redact

Gauge = tuple[str, str, list[str], list[tuple[list[str], float]]]


def quarantine_counts(read_side: ReadSide) -> dict[str, int]:
    rows = read_side.app.fetch(
        "SELECT reason, COUNT(*) FROM psledger_quarantine WHERE status = 'open' GROUP BY reason"
    )
    return {str(r): int(n) for r, n in sorted(rows)}


def parked_counts(read_side: ReadSide) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for waits_for, n in read_side.app.fetch(
        "SELECT waits_for, COUNT(*) FROM psledger_parked GROUP BY waits_for"
    ):
        found[figures.parked_reason(str(waits_for))] += int(n)
    return dict(sorted(found.items()))


def open_exceptions(read_side: ReadSide) -> dict[str, int]:
    rows = read_side.app.fetch(
        "SELECT exception_code, COUNT(*) FROM psledger_view_items WHERE exception_code IS NOT NULL "
        "AND state IN ('approved', 'billable') GROUP BY exception_code"
    )
    return {str(code): int(n) for code, n in sorted(rows)}


def last_billing_run(read_side: ReadSide) -> dict[str, Any] | None:
    """The newest billing run that invoiced a work item (from the lineage view)."""
    rows = read_side.app.fetch(
        "SELECT recorded_at, provenance FROM psledger_view_item_events "
        "WHERE event = 'Invoiced' ORDER BY notification_id DESC LIMIT 1"
    )
    if not rows:
        return None
    recorded_at, provenance = rows[0]
    found = orjson.loads(provenance) if provenance else {}
    run_id = str(found.get("record_id") or "")
    parts = run_id.split(":")
    return {
        "run_id": run_id,
        "period": parts[1] if len(parts) > 2 and parts[0] == "billing-run" else None,
        "by": found.get("actor"),
        "at": str(recorded_at),
    }


def positions(read_side: ReadSide, sync: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each source's last committed position, with its last event's age."""
    by_source = {row["source"]: row for row in sync}
    rows = read_side.app.fetch("SELECT source, part, position FROM psledger_positions")
    return [
        {
            "source": str(source),
            "partition": int(part),
            "position": int(position),
            "last_recorded_at": by_source.get(str(source), {}).get("last_recorded_at"),
            "age_s": by_source.get(str(source), {}).get("age_s"),
        }
        for source, part, position in sorted(rows)
    ]


def summary(read_side: ReadSide, store_url: str, now: datetime) -> dict[str, Any]:
    """What `psledger status` prints."""
    sync = figures.sync(read_side.app, now)
    views = [s.to_dict() for s in read_side.status()]
    return {
        "store": redact(store_url),
        "events": read_side.last_notification_id(),
        "positions": positions(read_side, sync),
        "sync": sync,
        "quarantine": quarantine_counts(read_side),
        "parked": parked_counts(read_side),
        "open_exceptions": open_exceptions(read_side),
        "projections": views,
        "projection_lag": max((v["lag"] for v in views), default=0),
        "last_billing_run": last_billing_run(read_side),
    }


def store_gauges(read_side: ReadSide) -> list[Gauge]:
    """(name, help, label names, [(label values, value)]) read now."""
    views = read_side.status()
    return [
        (
            "psledger_store_events",
            "Events in the store (its last notification id)",
            [],
            [([], float(read_side.last_notification_id()))],
        ),
        (
            "psledger_quarantine_open",
            "Open quarantined records by reason",
            ["reason"],
            [([r], float(n)) for r, n in quarantine_counts(read_side).items()],
        ),
        (
            "psledger_parked",
            "Parked records by reason (what they wait for)",
            ["reason"],
            [([r], float(n)) for r, n in parked_counts(read_side).items()],
        ),
        (
            "psledger_billing_exceptions_open",
            "Work items with an open billing exception, by code",
            ["code"],
            [([c], float(n)) for c, n in open_exceptions(read_side).items()],
        ),
        (
            "psledger_projection_lag_events",
            "Events a materialised view is behind the store",
            ["view"],
            [([v.name], float(v.lag)) for v in views],
        ),
    ]
