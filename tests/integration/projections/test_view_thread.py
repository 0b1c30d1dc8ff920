"""While `serve` runs, a background runner keeps the views current as events
arrive, and stops cleanly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from views_support import psledger, view_rows

from psledger.bootstrap import bootstrap
from psledger.read_side import ViewThread
from psledger.settings import Settings

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_runner_follows_a_store_being_written_and_stops_cleanly(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    sqlite = f"sqlite:///{tmp_path}/ledger.db"
    store = sqlite if backend == "sqlite" else request.getfixturevalue("pg_url")
    wiring = bootstrap(Settings(store=store))
    runner = ViewThread(wiring.read_side, interval=0.05).start()
    try:
        # when the demo firm is ingested and billed while the runner runs
        psledger(store, "demo", "--out", str(tmp_path / "out"))
        deadline = time.monotonic() + 60
        while any(s.lag for s in wiring.read_side.status()) and time.monotonic() < deadline:
            time.sleep(0.1)
        # then it has caught up by itself, without a read asking it to
        assert [s.lag for s in wiring.read_side.status()] == [0, 0, 0, 0]
        assert runner.error is None
    finally:
        runner.stop()
        wiring.close()
    assert not runner.thread.is_alive()
    # and what it wrote page by page, while events arrived, is what a rebuild writes
    followed = view_rows(store)
    psledger(store, "projections", "rebuild")
    assert view_rows(store) == followed
    assert followed["psledger_view_invoices"]
