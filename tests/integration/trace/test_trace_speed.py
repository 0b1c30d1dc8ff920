"""A trace costs what its answer costs: on a store of 50,000 events the
second trace of an invoice reads only the invoice's new events."""

from __future__ import annotations

from pathlib import Path

from bench_trace import INVOICES, pad, timed

from psledger.audit.trace import trace
from psledger.bootstrap import bootstrap
from psledger.demo.run import run_demo
from psledger.settings import Settings


def test_tracing_again_is_fast_on_a_store_of_many_events(tmp_path: Path) -> None:
    wiring = bootstrap(Settings(store=f"sqlite:///{tmp_path}/ledger.db"))
    app = wiring.app
    try:
        run_demo(wiring, tmp_path / "files")
        pad(app, 10_000)
        assert (app.recorder.max_notification_id() or 0) > 50_000
        for number in INVOICES:
            first = trace(app, number)
            p50, p99 = timed(lambda number=number: trace(app, number), 200)  # type: ignore[misc]
            print(f"{number}: warm p50 {p50:.2f} ms, p99 {p99:.2f} ms")
            assert trace(app, number) == first
            assert p50 <= 10.0, f"{number}: p50 {p50:.2f} ms"
    finally:
        wiring.close()
