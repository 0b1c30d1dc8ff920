"""Measure `audit trace` in process on a store with many events.

    .venv/bin/python tests/integration/trace/bench_trace.py sqlite:////tmp/bench.db 20000

builds the demo firm, pads the store with PAD time entries of five events
each (captured, approved, revised three times), then times the trace of
three invoices: cold (a new tracer each time: every line's history read
from the store) and warm (the process's tracer), and prints p50 and p99.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from domain.provenance import Provenance
from domain.time_entry import TimeEntry
from psledger.app import LedgerApplication, UnitOfWork
from psledger.audit.trace import Tracer, trace
from psledger.bootstrap import bootstrap
from psledger.demo.run import run_demo
from psledger.settings import Settings

INVOICES = ("GB01-SOW-1042-2026-01", "GB01-SOW-1042-2026-02", "DE01-SOW-3007-2026-01")


def pad(app: LedgerApplication, count: int) -> None:
    """`count` unrelated time entries of five events each, 2000 per transaction."""
    for start in range(0, count, 2000):
        uow = UnitOfWork(app)
        for i in range(start, min(count, start + 2000)):
            source = Provenance(
                "psa", f"pad:{i}", table="public.time_entries", key=f"PAD-{i}", lsn=i + 1
            )
            fields = {
                "project_id": "PRJ-PAD",
                "worker_id": "W-PAD",
                "role": "consultant",
                "work_date": date(2026, 1, 5),
                "hours": Decimal("1"),
                "billable": True,
            }
            entry = TimeEntry.capture(f"PAD-{i}", fields, source)
            entry.approve("pm", datetime(2026, 1, 6, tzinfo=UTC), source)
            for hours in ("2", "3", "4"):
                entry.revise({**entry.fields, "hours": Decimal(hours)}, source)
            uow.add(entry, parent_id="PRJ-PAD")
        uow.commit()


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)]


def timed(call: object, runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        call()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return percentiles(samples)


def main(store: str, padding: int) -> None:
    wiring = bootstrap(Settings(store=store))
    app = wiring.app
    try:
        run_demo(wiring, Path(tempfile.mkdtemp()) / "files")
        pad(app, padding)
        print(f"events in store: {app.recorder.max_notification_id()}")
        for number in INVOICES:
            found = trace(app, number)
            events = sum(len(line["events"]) for line in found["lines"])

            def cold(number: str = number) -> None:
                Tracer(lambda key, gt: list(app.events.get(key, gt=gt))).trace(number)

            c50, c99 = timed(cold, 100)
            w50, w99 = timed(lambda number=number: trace(app, number), 300)  # type: ignore[misc]
            print(
                f"{number}: {len(found['lines'])} lines, {events} events; "
                f"cold p50 {c50:.2f} ms p99 {c99:.2f} ms; warm p50 {w50:.2f} ms p99 {w99:.2f} ms"
            )
    finally:
        wiring.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20000)
