"""A trace costs what its answer costs: its read is index searches on the
lineage view, never scans of a table that grows with the store
(tools/bench_trace.py measures the time at two store sizes)."""

from __future__ import annotations

from pathlib import Path

from projections.read.recorders import TRACE_READ, view_recorder
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
        # when SQLite plans the trace's read
        with recorder.datastore.transaction(commit=False) as c:
            c.execute("EXPLAIN QUERY PLAN " + TRACE_READ.format(p="?"), [JANUARY] * 3)
            plan = [str(row[3]) for row in c.fetchall()]
    finally:
        wiring.close()
    # then every table is searched by its key, none scanned, and nothing is
    # sorted by the database (the rows are put in order in Python: a
    # temporary B-tree copied every entry)
    assert not [step for step in plan if "TEMP B-TREE" in step], plan
    searches = [step for step in plan if step.startswith("SEARCH")]
    assert not [step for step in plan if step.startswith("SCAN")], plan
    assert [s.split(" USING ")[0] for s in searches] == [
        "SEARCH psledger_view_trace",
        "SEARCH psledger_view_invoice_events",
        "SEARCH l",
        "SEARCH e",
    ], plan
    assert searches[-1].endswith("(item_kind=? AND item_id=?)"), plan
