"""Versioned schema migrations: many processes starting at once on a fresh
PostgreSQL store all succeed and each migration runs once; a store made by
the code before migrations upgrades as it is; a failed migration leaves
nothing behind and is retried; a Python step sees the stored events."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from store_starts import REFERENCE, start
from support.postgres import PostgresCluster

from domain.errors import InfrastructureError
from psledger.app import LedgerApplication
from psledger.bootstrap import bootstrap
from psledger.settings import Settings, store_environment
from psledger.store.migrations import MIGRATIONS, Migration, latest_version
from psledger.store.rows import DedupRow, LedgerRows
from psledger.store.schema import MigrationContext, status, upgrade

PSLEDGER = Path(sys.executable).with_name("psledger")
NOW = datetime(2026, 3, 1, tzinfo=UTC)

# The side tables exactly as the code before migrations created them at every
# start (LedgerTables.create_statements), for a "store from the old code".
OLD_SIDE_TABLES = [
    "CREATE TABLE IF NOT EXISTS psledger_dedup ("
    "key TEXT PRIMARY KEY, result TEXT NOT NULL, recorded_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS psledger_entities ("
    "kind TEXT NOT NULL, business_id TEXT NOT NULL, parent_id TEXT, "
    "PRIMARY KEY (kind, business_id))",
    "CREATE INDEX IF NOT EXISTS psledger_entities_parent ON psledger_entities (kind, parent_id)",
    "CREATE TABLE IF NOT EXISTS psledger_quarantine ("
    "id TEXT PRIMARY KEY, source TEXT NOT NULL, part {bigint} NOT NULL, "
    "position {bigint} NOT NULL, record_key TEXT, raw {blob} NOT NULL, "
    "reason TEXT NOT NULL, detail TEXT NOT NULL, created_at TEXT NOT NULL, "
    "status TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS psledger_parked ("
    "id TEXT PRIMARY KEY, waits_for TEXT NOT NULL, source TEXT NOT NULL, "
    "part {bigint} NOT NULL, position {bigint} NOT NULL, raw {blob} NOT NULL, "
    "reason TEXT NOT NULL, parked_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS psledger_parked_waits ON psledger_parked (waits_for)",
    "CREATE TABLE IF NOT EXISTS psledger_positions ("
    "source TEXT NOT NULL, part {bigint} NOT NULL, position {bigint} NOT NULL, "
    "PRIMARY KEY (source, part))",
]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def bare(store: str) -> Iterator[LedgerApplication]:
    """The store without bootstrap: nothing created yet."""
    app = LedgerApplication(env=store_environment(store))
    yield app
    app.close()


def psledger(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PSLEDGER), *args], capture_output=True, text=True, timeout=120, check=False
    )


def tables(app: LedgerApplication) -> set[str]:
    if "sqlite" in type(app.recorder).__module__:
        rows = app.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")
    else:
        rows = app.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {r[0] for r in rows}


# -- many processes at once ------------------------------------------------------


@pytest.mark.postgres
def test_eight_processes_starting_at_once_on_a_fresh_store_all_succeed(
    pg_cluster: PostgresCluster,
) -> None:
    mp = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload(["psledger.bootstrap", "psledger.cli", "store_starts"])
    for loop in range(20):
        name = f"t_starts_{loop}_{uuid.uuid4().hex[:8]}"
        url = pg_cluster.create_database(name)
        ready = mp.Barrier(8)
        out: Any = mp.Queue()
        hows = ["upgrade", "first-use"] * 4
        procs = [mp.Process(target=start, args=(url, how, ready, out)) for how in hows]
        for p in procs:
            p.start()
        results = [out.get(timeout=120) for _ in procs]
        for p in procs:
            p.join(timeout=60)
        assert results == ["ok"] * 8, f"loop {loop}: {results}"
        check = LedgerApplication(env=store_environment(url))
        try:
            versions = check.fetch("SELECT version FROM psledger_schema_version ORDER BY version")
            assert [v for (v,) in versions] == [m.version for m in MIGRATIONS]
            assert check.fetch("SELECT count(*) FROM psledger_dedup") == [(1,)]  # one delivery
        finally:
            check.close()
        if pg_cluster.is_external:
            pg_cluster.drop_database(name)


@pytest.mark.postgres
def test_db_upgrade_from_the_command_line_says_what_it_applied(pg_url: str) -> None:
    before = psledger("--store", pg_url, "db", "status")
    assert before.returncode == 0, before.stderr
    assert "current version: 0" in before.stdout
    assert f"latest version: {latest_version()}" in before.stdout
    first = psledger("--store", pg_url, "db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[0] == f"applied 1: {MIGRATIONS[0].name}"
    assert len([line for line in first.stdout.splitlines() if line.startswith("applied")]) == len(
        MIGRATIONS
    )
    again = psledger("--store", pg_url, "db", "upgrade")
    assert again.stdout.strip() == f"schema is up to date (version {latest_version()})"
    after = psledger("--store", pg_url, "db", "status")
    assert f"current version: {latest_version()}" in after.stdout
    assert "pending" not in after.stdout


# -- a store from the old code ------------------------------------------------


def make_old_store(store: str) -> None:
    """What the code before migrations left: eventsourcing's tables made by the
    library at start-up, the side tables by IF NOT EXISTS, no version table,
    and some data."""
    app = LedgerApplication(env={**store_environment(store), "CREATE_TABLE": "true"})
    try:
        d = app.tables.d
        ddl = [s.format(blob=d.blob, bigint=d.bigint) for s in OLD_SIDE_TABLES]
        if d.name == "sqlite":
            with app.recorder.datastore.transaction(commit=True) as c:  # type: ignore[attr-defined]
                for statement in ddl:
                    c.execute(statement)
        else:
            with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
                for statement in ddl:
                    conn.execute(statement.encode())
        rows = LedgerRows(dedup=[DedupRow("old:delivery-1", "{}", NOW)])
        app.recorder.insert_events([], ledger_rows=rows)
    finally:
        app.close()


def test_a_store_from_the_old_code_upgrades_and_keeps_its_data(store: str) -> None:
    make_old_store(store)
    wiring = bootstrap(Settings(store=store))
    try:
        found = status(wiring.app)
        assert (found.current, found.pending) == (latest_version(), [])
        assert wiring.app.fetch("SELECT key FROM psledger_dedup") == [("old:delivery-1",)]
        applied = wiring.ledger.apply_webhook((REFERENCE / "crm.sow.approved.json").read_bytes())
        assert applied.event_ids == ["customer:ACC-77@1", "contract:SOW-1042@1"]
    finally:
        wiring.close()


# -- failures, retries, Python steps ----------------------------------------------


def _boom(ctx: MigrationContext) -> None:
    ctx.execute("INSERT INTO t_half VALUES (1)")
    raise RuntimeError("backfill broke")


def test_a_failed_migration_leaves_nothing_and_runs_again_next_time(
    bare: LedgerApplication,
) -> None:
    assert [m.version for m in upgrade(bare)] == [m.version for m in MIGRATIONS]
    n = latest_version() + 1
    broken = [
        *MIGRATIONS,
        Migration(n, "half a table", sql=["CREATE TABLE t_half (x INTEGER)"], python=_boom),
    ]
    with pytest.raises(InfrastructureError, match=f"migration {n} \\(half a table\\) failed"):
        upgrade(bare, broken)
    assert status(bare, broken).current == n - 1
    assert "t_half" not in tables(bare)  # its DDL rolled back with it
    fixed = [*MIGRATIONS, Migration(n, "half a table", sql=["CREATE TABLE t_half (x INTEGER)"])]
    assert [m.version for m in upgrade(bare, fixed)] == [n]
    assert upgrade(bare, fixed) == []
    assert status(bare, fixed).current == n


def test_a_python_step_reads_the_stored_events_in_its_transaction(store: str) -> None:
    wiring = bootstrap(Settings(store=store))
    try:
        wiring.ledger.apply_webhook((REFERENCE / "crm.sow.approved.json").read_bytes())
        seen: list[str] = []

        def index_topics(ctx: MigrationContext) -> None:
            rows = [(n.id, n.topic) for n in ctx.notifications(page=1)]
            ctx.executemany(f"INSERT INTO t_topics VALUES ({ctx.p}, {ctx.p})", rows)
            seen.extend(type(e).__qualname__ for e in ctx.domain_events())

        n = latest_version() + 1
        step = Migration(
            n,
            "topics",
            sql=["CREATE TABLE t_topics (id {bigint}, topic TEXT)"],
            python=index_topics,
        )
        assert upgrade(wiring.app, [*MIGRATIONS, step]) == [step]
        assert [r[0] for r in wiring.app.fetch("SELECT id FROM t_topics ORDER BY id")] == [1, 2]
        assert seen == ["Customer.Registered", "Contract.Registered"]
    finally:
        wiring.close()
