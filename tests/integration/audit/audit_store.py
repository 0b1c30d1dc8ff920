"""A store URL with the means to reach its tables behind psledger's back,
and the inputs the journal's tests feed it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner, Result

from psledger.cli import cli

ROOT = Path(__file__).resolve().parents[3]
WEBHOOKS = ROOT / "psledger" / "data" / "webhooks"
SOW = WEBHOOKS / "crm.sow.approved.json"
FIRM = ROOT / "tests" / "fixtures" / "debezium" / "psa_firm.jsonl"


class Store:
    """A store URL with the means to reach its tables behind psledger's back."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.postgres = url.startswith("postgresql")

    def psledger(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--store", self.url, *args])

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.postgres:
            with psycopg.connect(self.url, autocommit=True) as conn:
                cur = conn.execute(statement.replace("?", "%s"), params)  # type: ignore[arg-type]
                return cur.fetchall() if cur.description else []
        conn = sqlite3.connect(self.url.removeprefix("sqlite:///"))
        try:
            with conn:
                return conn.execute(statement, params).fetchall()
        finally:
            conn.close()

    @property
    def events(self) -> str:
        return "psledger_events" if self.postgres else "stored_events"

    @property
    def position(self) -> str:
        return "notification_id" if self.postgres else "rowid"

    def flip_one_byte(self, position: int) -> None:
        """Change one byte of the stored event at `position`, by hand."""
        (state,) = self.sql(
            f"SELECT state FROM {self.events} WHERE {self.position} = ?", (position,)
        )[0]
        changed = bytearray(state)
        at = len(changed) // 2
        changed[at] ^= 0x01
        self.sql(
            f"UPDATE {self.events} SET state = ? WHERE {self.position} = ?",
            (bytes(changed), position),
        )


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.output
    return result.output


def worker_webhook(n: int, into: Path) -> Path:
    body = json.loads((WEBHOOKS / "hr.worker.updated.json").read_text())
    body["id"] = f"evt_hr_audit_{n:05d}"
    body["data"]["worker_id"] = f"W-AUDIT-{n:05d}"
    path = into / f"hr-{n:05d}.json"
    path.write_text(json.dumps(body))
    return path


def fed_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """For a fixture parametrised "sqlite" / "postgres": a store fed a firm's
    change events (25 events)."""
    if request.param == "sqlite":
        store = Store(f"sqlite:///{tmp_path / 'ledger.db'}")
    else:
        request.applymarker(pytest.mark.postgres)
        store = Store(request.getfixturevalue("pg_url"))
    ok(store.psledger("ingest", "webhook", str(SOW)))
    ok(store.psledger("ingest", "debezium", str(FIRM)))
    return store
