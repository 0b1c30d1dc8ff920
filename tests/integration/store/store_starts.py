"""What one process does in the concurrent-start tests (imported by the
children of a forkserver, so it lives in a module of its own)."""

from __future__ import annotations

import multiprocessing.synchronize
import random
import uuid
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent

from psledger.bootstrap import bootstrap
from psledger.settings import Settings
from psledger.store.rows import DedupRow, LedgerRows

NOW = datetime(2026, 3, 1, tzinfo=UTC)
REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"


def start(url: str, how: str, ready: multiprocessing.synchronize.Barrier, out: Queue[str]) -> None:
    """`psledger db upgrade`, or a first-use start that also writes, at the
    same moment as the other processes; puts "ok" or the error on `out`."""
    try:
        from psledger.cli import cli

        ready.wait(timeout=60)
        if how == "upgrade":
            cli.main(["--store", url, "db", "upgrade"], prog_name="psledger", standalone_mode=False)
        else:
            wiring = bootstrap(Settings(store=url))
            try:
                wiring.ledger.apply_webhook((REFERENCE / "crm.sow.approved.json").read_bytes())
            finally:
                wiring.close()
        out.put("ok")
    except SystemExit as exc:  # a CLI failure: its one line is on stderr
        out.put(f"{how}: exit {exc.code}")
    except BaseException as exc:
        out.put(f"{how}: {type(exc).__name__}: {exc}")


def hammer(url: str, seed: int) -> dict[str, int]:
    """One process of several writing to the same aggregates and dedup keys."""
    w = bootstrap(Settings(store=url))
    recorder: Any = w.app.recorder
    rnd = random.Random(seed)
    outcome: dict[str, int] = {}
    try:
        ids = [uuid.UUID(int=i + 1) for i in range(10)]
        for _ in range(150):
            oid = rnd.choice(ids)
            last = recorder.select_events(oid, desc=True, limit=1)
            version = last[0].originator_version + 1 if last else 1
            rows = LedgerRows(dedup=[DedupRow(f"k{rnd.randrange(200)}", "{}", NOW)])
            try:
                recorder.insert_events([StoredEvent(oid, version, "t", b"{}")], ledger_rows=rows)
                what = "written"
            except IntegrityError:
                what = "conflict"
            except Exception as exc:
                what = f"{type(exc).__name__}: {exc}"
            outcome[what] = outcome.get(what, 0) + 1
    finally:
        w.close()
    return outcome
