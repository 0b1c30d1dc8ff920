"""Engine drill: `psledger ingest debezium-engine` killed mid-snapshot and
mid-stream, restarted with the same offsets file each time.

The PSA holds the CDC firm plus enough time entries that its snapshot spans
several engine batches. A reference engine (its own slot, in this process)
captures the same snapshot and the same streamed transactions, and a clean
pass over what it captured is what the drilled store must equal: every
source change settled once, none doubled, the same invoices.

`PSLEDGER_DRILL_REPEAT=N` loops it N times (another kill point each time).
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import pytest
from drill_support import assert_converged, attempts, clean_pass, finish, psledger, store_ledger
from psa_firm import ListSource, Recording, create_psa, drop_slot, engine, execute, new_slot
from support.postgres import PostgresCluster
from test_cdc_kafka_drill import STREAMED

from cdc.records import RawRecord

pytestmark = [pytest.mark.postgres, pytest.mark.engine]

ENTRIES = 1400  # a snapshot of about three engine batches (500 records each)
BULK = f"""
insert into time_entries (id, project_id, worker_id, role, work_date, hours, notes, status)
select 'TE-B' || n, 'PRJ-NW-1', 'W-10' || (n % 3), 'consultant',
       date '2026-01-05' + (n % 20), 1 + (n % 7), 'bulk ' || n, 'submitted'
from generate_series(1, {ENTRIES}) as n;
"""
# (mid-snapshot, mid-stream) kill points; attempt n takes the n-th pair, round robin
KILLS = (
    ("store_committed:1", "store_committed:1"),
    ("store_commit:2", "store_commit:1"),
    ("store_committed:2", "offsets_committed:1"),
    ("store_commit:1", "store_committed:2"),
    ("store_committed:1", "offsets_committed:2"),  # the first stream batch's offsets flushed
    ("store_commit:2", "offsets_committed:3"),
)


def reference(url: str, slot: str, offsets: Path, into: list[RawRecord]) -> None:
    """Run the reference engine until idle, keeping what it hands out."""
    recording = Recording(engine(url, offsets, slot, idle=3.0))
    try:
        for batch in recording.batches():
            recording.commit(batch)
    finally:
        recording.close()
    into.extend(recording.records)


def engine_run(
    store: str, psa: str, slot: str, offsets: Path, fault: str | None
) -> tuple[int, str, str]:
    """`psledger ingest debezium-engine` until idle (or killed at `fault`).

    A run that is to drain the slot is given 10 idle seconds: the engine
    source counts the time the pipeline spends on a batch as idle time (it
    stamps a batch when it is received, not when it is committed, and the
    engine cannot hand over the next one before that commit), so on busy
    cores a 3 s idle stop ends the run between two batches of one source
    transaction (exit 3, the transaction left staged)."""
    proc = psledger(
        store,
        "ingest",
        "debezium-engine",
        "--source",
        psa,
        "--offsets",
        str(offsets),
        "--slot",
        slot,
        "--publication",
        f"pub_{slot}",
        "--idle-seconds",
        "3" if fault else "10",
        fault=fault,
    )
    return finish(proc)


def test_engine_killed_mid_snapshot_and_mid_stream_converges(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    for attempt in attempts():
        snapshot_kill, stream_kill = KILLS[attempt % len(KILLS)]
        context = f"attempt {attempt}: {snapshot_kill}, then {stream_kill}"
        run = uuid.uuid4().hex[:8]
        psa = pg_cluster.create_database(f"psa_{run}")
        create_psa(psa)
        execute(psa, BULK)
        store = pg_cluster.create_database(f"store_{run}")
        store_ledger(store).close()
        slot, ref_slot = new_slot(), new_slot()
        offsets = tmp_path / f"offsets-{run}.dat"
        captured: list[RawRecord] = []
        drill = (store, psa, slot, offsets)

        try:
            # given the reference has taken its snapshot
            reference(psa, ref_slot, tmp_path / f"ref-{run}.dat", captured)

            # when the engine is killed mid-snapshot, then restarted to the end of it
            code, out, err = engine_run(*drill, snapshot_kill)
            assert code == -signal.SIGKILL, f"{context}: not killed\n{out}\n{err}"
            code, out, err = engine_run(*drill, None)
            assert code == 0, f"{context}\n{out}\n{err}"

            # and the PSA changes, and the engine is killed mid-stream, then restarted
            execute(psa, *STREAMED)
            code, out, err = engine_run(*drill, stream_kill)
            assert code == -signal.SIGKILL, f"{context}: not killed mid-stream\n{out}\n{err}"
            code, out, err = engine_run(*drill, None)
            assert code == 0, f"{context}\n{out}\n{err}"
            reference(psa, ref_slot, tmp_path / f"ref-{run}.dat", captured)
        finally:
            drop_slot(psa, slot)
            drop_slot(psa, ref_slot)

        # then the store holds what one clean pass over the reference's records holds
        assert len(captured) > ENTRIES
        clean = clean_pass(f"sqlite:///{tmp_path}/clean-{run}.db", ListSource(captured))
        assert_converged(store, clean, context).close()
        print(f"drill ok: {context}", flush=True)
