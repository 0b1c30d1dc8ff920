"""A trace costs what its answer costs: its reads are index searches on the
lineage view, never scans of a table that grows with the store
(tools/bench_trace.py measures the time at two store sizes)."""

from __future__ import annotations

from pathlib import Path

from projections.read.recorders import TRACE_READS, view_recorder
from psledger.audit.trace import trace
from psledger.bootstrap import bootstrap
from psledger.demo.run import run_demo
from psledger.settings import Settings

JANUARY = "GB01-SOW-1042-2026-01"


def test_the_trace_reads_only_through_indexes(tmp_path: Path) -> None:
    # given the billed demo on SQLite, its lineage view caught up by a trace
    wiring = bootstrap(Settings(store=f"sqlite:///{tmp_path}/ledger.db"))
    try:
        run_demo(wiring, tmp_path / "files")
        assert len(trace(wiring.app, JANUARY)["lines"]) == 42
        recorder = view_recorder(wiring.app.recorder)
        # when SQLite plans each of the trace's reads
        plans = []
        with recorder.datastore.transaction(commit=False) as c:
            for statement in TRACE_READS:
                c.execute("EXPLAIN QUERY PLAN " + statement.format(p="?"), [JANUARY])
                plans.append([str(row[3]) for row in c.fetchall()])
    finally:
        wiring.close()
    # then every table is searched by its key, none scanned
    for plan in plans:
        assert plan and all(not step.startswith("SCAN") for step in plan), plan
    assert any(s.startswith("SEARCH e") and "(item_kind=? AND item_id=?)" in s for s in plans[2])
