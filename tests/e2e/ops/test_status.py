"""`psledger status` on SQLite and PostgreSQL: the demo firm, with one parked
and one quarantined record, summarised on one screen; the figures checked
against the store's tables, the ingested files and the CLI's own answers."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from ops_support import DemoStore, cli, cli_json, make_demo_store

from psledger.demo import firm


def stored_events(store: str) -> int:
    if store.startswith("sqlite:///"):
        with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
            return int(db.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
    with psycopg.connect(store) as db:
        table = db.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = "
            "'notification_id' AND table_name LIKE '%events'"
        ).fetchone()
        assert table is not None
        found = db.execute(f'SELECT COUNT(*) FROM "{table[0]}"').fetchone()
        assert found is not None
        return int(found[0])


def last_offsets(files: list[Path]) -> dict[str, int]:
    """Each topic's last offset in the last of the files (ingested in order) to hold it."""
    found: dict[str, int] = {}
    for path in files:
        in_file: dict[str, int] = {}
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            in_file[record["topic"]] = max(in_file.get(record["topic"], -1), int(record["offset"]))
        found.update(in_file)
    return found


def check_summary(demo: DemoStore, found: dict[str, Any]) -> None:
    assert found["events"] == stored_events(demo.url)
    files = [*sorted((demo.dir / "demo").glob("*.jsonl")), demo.dir / "extras.jsonl"]
    assert {p["source"]: p["position"] for p in found["positions"]} == last_offsets(files)
    assert found["quarantine"] == {"malformed_json": 1}
    assert found["parked"] == {"waits_for_project": 1}
    exceptions = cli_json(demo.url, "items", "--exception", "any", "--format", "json")
    assert found["open_exceptions"] == dict(
        Counter(
            i["exception"]["code"] for i in exceptions if i["state"] in ("approved", "billable")
        )
    )
    assert found["projection_lag"] == 0
    assert found["last_billing_run"]["period"] == "2026-02"
    hr = next(s for s in found["sync"] if s["source"] == "webhook:hr")
    assert hr["events"] == len(firm.worker_webhooks())


@pytest.fixture(scope="module")
def postgres_demo(tmp_path_factory: pytest.TempPathFactory, pg_cluster: Any) -> DemoStore:
    tmp = tmp_path_factory.mktemp("ops-pg")
    return make_demo_store(pg_cluster.create_database(f"ops_{tmp.name.replace('-', '_')}"), tmp)


def test_status_summarises_a_sqlite_store(demo_store: DemoStore) -> None:
    check_summary(demo_store, cli_json(demo_store.url, "status", "--format", "json"))


def test_status_summarises_a_postgres_store(postgres_demo: DemoStore) -> None:
    check_summary(postgres_demo, cli_json(postgres_demo.url, "status", "--format", "json"))


def test_status_never_shows_the_store_password(postgres_demo: DemoStore) -> None:
    with_password = postgres_demo.url.replace("postgres@", "postgres:hunter2@", 1)
    assert with_password != postgres_demo.url  # trust auth ignores the password
    shown = cli("--store", with_password, "status").stdout
    assert "hunter2" not in shown
    assert "postgres:***@" in shown.splitlines()[0]
    assert "parked         waits_for_project 1" in shown


def test_without_catching_up_status_shows_the_projection_lag(
    tmp_path: Path, demo_store: DemoStore
) -> None:
    body = firm.worker_webhooks()[0].replace(b"68.00", b"70.00").replace(b"evt_hr_9900", b"evt_x")
    (tmp_path / "hr.json").write_bytes(body)
    before = stored_events(demo_store.url)
    cli("--store", demo_store.url, "ingest", "webhook", str(tmp_path / "hr.json"))
    appended = stored_events(demo_store.url) - before
    assert appended == 1
    found = cli_json(demo_store.url, "status", "--no-catch-up", "--format", "json")
    assert found["projection_lag"] == appended
    assert cli_json(demo_store.url, "status", "--format", "json")["projection_lag"] == 0
