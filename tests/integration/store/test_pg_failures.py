"""PostgreSQL-only failures: NUL in text, a server restart under a running
process, prepared statements in processes that share a store, an
unreachable server. All on the throwaway cluster."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from store_starts import hammer
from support.postgres import PostgresCluster

from domain.contract import Contract
from domain.errors import InfrastructureError
from psledger.app import UnitOfWork
from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings
from psledger.store import postgres as postgres_store
from psledger.store.errors import StoreUnavailable
from psledger.store.rows import DedupRow, LedgerRows, QuarantineRow

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 1, tzinfo=UTC)
REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"


@pytest.fixture
def wiring(pg_url: str) -> Iterator[Wiring]:
    w = bootstrap(Settings(store=pg_url))
    yield w
    w.close()


def test_nul_in_text_fields_is_stored_escaped_and_raw_bytes_stay_exact(wiring: Wiring) -> None:
    raw = b'{"id": "TE-\x00-1"}\x00'
    row = QuarantineRow(
        id="q-nul",
        source="psa.public.time_entries",
        partition=0,
        offset=7,
        record_key="TE-\x00-1",
        raw=raw,
        reason="undecodable\x00",
        detail="value 'a\x00b' is not a number",
        created_at=NOW,
    )
    rows = LedgerRows(quarantine=[row], dedup=[DedupRow("cdc:TE-\x00-1", "{}", NOW)])
    wiring.app.recorder.insert_events([], ledger_rows=rows)
    found = wiring.app.fetch(wiring.app.tables.q_quarantine(by_id=True), ["q-nul"])
    assert len(found) == 1
    _id, _source, _part, _pos, record_key, stored_raw, reason, detail, *_ = found[0]
    assert (record_key, reason, detail) == (
        "TE-\\x00-1",
        "undecodable\\x00",
        "value 'a\\x00b' is not a number",
    )
    assert bytes(stored_raw) == raw
    # a lookup with the same key finds it: reads escape parameters the same way
    tables = wiring.app.tables
    assert wiring.app.fetch(tables.q_dedup(1), tables.values(["cdc:TE-\x00-1"])) == [
        ("cdc:TE-\\x00-1", "{}")
    ]


def restart(cluster: PostgresCluster) -> None:
    if cluster.is_external or cluster.base_dir is None:
        pytest.skip("restarting needs the throwaway cluster (not $PSLEDGER_TEST_PG_URL)")
    data = cluster.base_dir / "data"
    log = cluster.base_dir / "postgres.log"  # else the server keeps pg_ctl's stdout open
    cluster._run_pg(
        ["pg_ctl", "-D", str(data), "-l", str(log), "-m", "fast", "-w", "restart"],
        cluster.base_dir,
    )
    cluster._wait_ready(60)


def test_a_running_process_answers_after_a_server_restart(
    wiring: Wiring, pg_cluster: PostgresCluster
) -> None:
    wiring.ledger.apply_webhook((REFERENCE / "crm.sow.approved.json").read_bytes())
    pool = wiring.app.recorder.datastore.pool  # type: ignore[attr-defined]
    assert pool.get_stats()["pool_size"] >= 2  # connections that the restart will kill
    restart(pg_cluster)
    for _ in range(8):  # more reads than pooled connections: none may fail
        assert wiring.app.fetch("SELECT count(*) FROM psledger_dedup") == [(1,)]
        contract = UnitOfWork(wiring.app).get(Contract, "SOW-1042")
        assert contract is not None
    applied = wiring.ledger.apply_webhook((REFERENCE / "crm.sow.amended.json").read_bytes())
    assert applied.event_ids


def test_reads_and_writes_on_connections_used_just_before_a_restart_are_retried(
    wiring: Wiring, pg_cluster: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A connection used a moment ago is handed out without a ping; after a
    restart its first use fails, and the retry pings every connection."""
    monkeypatch.setattr(postgres_store, "PING_AFTER_IDLE", 3600.0)
    wiring.ledger.apply_webhook((REFERENCE / "crm.sow.approved.json").read_bytes())
    for _ in range(4):  # every pooled connection used (and so not pinged again)
        assert UnitOfWork(wiring.app).get(Contract, "SOW-1042") is not None
    restart(pg_cluster)
    contract = UnitOfWork(wiring.app).get(Contract, "SOW-1042")
    assert contract is not None and contract.business_id == "SOW-1042"
    assert wiring.app.fetch("SELECT count(*) FROM psledger_dedup") == [(1,)]
    for _ in range(4):  # every pooled connection used again, then one more restart
        assert wiring.app.fetch("SELECT count(*) FROM psledger_dedup") == [(1,)]
    restart(pg_cluster)
    with wiring.app.snapshot() as reads:  # a snapshot is begun again, as a read is
        assert list(reads.stream("SELECT count(*) FROM psledger_dedup")) == [(1,)]
    applied = wiring.ledger.apply_webhook((REFERENCE / "crm.sow.amended.json").read_bytes())
    assert applied.event_ids


def test_connections_never_prepare_statements(wiring: Wiring) -> None:
    with wiring.app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
        assert conn.prepare_threshold is None


def test_processes_sharing_a_store_meet_conflicts_and_nothing_else(pg_url: str) -> None:
    """The old recorder answered some of these conflicts, a few per hundred,
    with `prepared statement "_pg3_N" does not exist`."""
    bootstrap(Settings(store=pg_url)).close()
    mp = multiprocessing.get_context("forkserver")
    with mp.Pool(4) as pool:
        outcomes = pool.starmap(hammer, [(pg_url, seed) for seed in range(4)])
    kinds = {kind for outcome in outcomes for kind in outcome}
    assert kinds <= {"written", "conflict"}, outcomes
    assert sum(o.get("conflict", 0) for o in outcomes) > 0  # they did collide


def test_an_unreachable_store_is_an_infrastructure_error(
    wiring: Wiring, pg_cluster: PostgresCluster, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = pg_url.rsplit("/", 1)[1]
    import psycopg

    with psycopg.connect(pg_cluster.admin_url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        try:
            with pytest.raises(StoreUnavailable) as caught:
                wiring.app.fetch("SELECT count(*) FROM psledger_dedup")
            assert isinstance(caught.value, InfrastructureError)
            assert str(caught.value).startswith("the event store is unavailable")
        finally:
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
    assert wiring.app.fetch("SELECT count(*) FROM psledger_dedup") == [(0,)]  # and it recovers
