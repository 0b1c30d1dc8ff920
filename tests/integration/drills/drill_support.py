"""Shared parts of the fault drills: the firm, the clean pass, the comparison.

Every drill compares a store that went through kills and restarts with a
clean single pass over the same records:

- the set of `psledger_dedup` keys (every source change settled exactly once),
- no (aggregate, event, source record) appended twice,
- nothing left staged or parked, the same quarantine,
- the work items' states and figures, and the billed invoices, equal.

Two firms feed them: the real Debezium output of the CDC firm captured by the
embedded engine (`tests/integration/cdc/test_cdc_kafka_drill.capture`), and a
generated firm (`tools/benchgen.py`) written as a Debezium file with its CRM
and HR webhooks, for the drills that need no engine.

`PSLEDGER_DRILL_REPEAT=N` makes each drill loop N times (default 1);
`PSLEDGER_DRILL_FIRST=K` starts the loop at attempt K (to rerun one).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
for _path in (ROOT / "tests" / "integration" / "cdc", ROOT / "tools", ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import psycopg  # noqa: E402
from psa_firm import SOW_APPROVED, event_count, sources_of  # noqa: E402
from test_cdc_scale_out import invoices, states  # noqa: E402

from cdc.sources import ChangeSource  # noqa: E402
from psledger.bootstrap import Wiring, bootstrap  # noqa: E402
from psledger.settings import Settings  # noqa: E402

REPEAT = int(os.environ.get("PSLEDGER_DRILL_REPEAT", "1"))
FIRST = int(os.environ.get("PSLEDGER_DRILL_FIRST", "0"))  # to rerun one attempt: its number


def attempts() -> range:
    """The attempt numbers of a drill's loop (each picks its own kill point)."""
    return range(FIRST, FIRST + REPEAT)


PERIOD = "2026-01"
PSLEDGER = [sys.executable, "-m", "psledger"]

__all__ = ["event_count", "sources_of"]


def store_ledger(url: str, webhooks: list[Path] | None = None) -> Wiring:
    """A ledger on `url` that knows the firm's contracts (and workers)."""
    wiring = bootstrap(Settings(store=url))
    for path in webhooks if webhooks is not None else [SOW_APPROVED]:
        wiring.ledger.apply_webhook(path.read_bytes())
    return wiring


def dedup_keys(wiring: Wiring) -> set[str]:
    return {str(row[0]) for row in wiring.app.fetch("select key from psledger_dedup")}


@dataclass
class Clean:
    """What one clean pass gives (before and after billing the period)."""

    keys: set[str]
    states: dict[str, tuple[Any, ...]]
    invoices: dict[str, tuple[Any, ...]]
    quarantine: list[str]
    events: int


def clean_pass(url: str, source: ChangeSource, webhooks: list[Path] | None = None) -> Clean:
    wiring = store_ledger(url, webhooks)
    try:
        wiring.pipeline.run(source, flush_incomplete=True)
        keys = dedup_keys(wiring)
        events = event_count(wiring)
        quarantine = sorted(q.reason for q in wiring.quarantine.list())
        wiring.ledger.bill(PERIOD)
        assert max(Counter(sources_of(wiring)).values()) == 1
        return Clean(keys, states(wiring), invoices(wiring), quarantine, events)
    finally:
        wiring.close()


def assert_converged(url: str, clean: Clean, context: str = "") -> Wiring:
    """The store at `url` holds exactly what the clean pass holds: then bill it
    and compare the invoices. Returns the (open) wiring."""
    wiring = bootstrap(Settings(store=url))
    assert wiring.app.fetch("select tx_id from psledger_staged") == [], context
    assert wiring.parking.list() == [], context
    assert sorted(q.reason for q in wiring.quarantine.list()) == clean.quarantine, context
    keys = dedup_keys(wiring)
    assert keys - clean.keys == set(), f"{context}: keys the clean pass lacks"
    assert clean.keys - keys == set(), f"{context}: source changes lost"
    doubled = [s for s, n in Counter(sources_of(wiring)).items() if n > 1]
    assert doubled == [], f"{context}: events appended twice"
    wiring.ledger.bill(PERIOD)
    assert states(wiring) == clean.states, context
    assert invoices(wiring) == clean.invoices, context
    return wiring


def positions(url: str) -> int:
    """About how many records are durable: the sum of the latest offsets the
    store recorded (one row per topic or partition a file or consumer read)."""
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute("select coalesce(sum(position), 0) from psledger_positions")
            found = row.fetchone()
            return int(found[0]) if found else 0
    except psycopg.Error:
        return 0


def position_rows(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            found = conn.execute("select count(*) from psledger_positions").fetchone()
            return int(found[0]) if found else 0
    except psycopg.Error:
        return 0


def psledger(store: str, *args: str, fault: str | None = None, **popen: Any) -> Any:
    """`psledger --store STORE ARGS...` as a subprocess (stdout and stderr apart)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PSLEDGER_FAULT", "PSLEDGER_DEBUG")}
    if fault is not None:
        env["PSLEDGER_FAULT"] = fault
    return subprocess.Popen(
        [*PSLEDGER, "--store", store, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=env,
        **popen,
    )


def finish(proc: Any, timeout: float = 300) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return int(proc.returncode), out.decode(), err.decode()


def wait_for(predicate: Any, timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(step)


def wait_progress(url: str, proc: Any, records: int, timeout: float = 120) -> bool:
    """Wait until about `records` records are durable in the store at `url`;
    False if `proc` (the writer) ended first."""
    wait_for(
        lambda: positions(url) >= records or proc.poll() is not None,
        timeout,
        f"{records} records durable",
    )
    return proc.poll() is None
