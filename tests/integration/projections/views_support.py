"""Helpers for the read-side tests: the CLI as a user types it, the replay-based
answers computed from the aggregates, and the views' rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

from projections.erp import erp_payload
from projections.read.tables import VIEW_TABLES
from projections.views import invoice_view, item_view
from psledger import queries
from psledger.bootstrap import bootstrap
from psledger.cli import cli
from psledger.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def psledger(store: str, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["--store", store, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def psledger_process(store: str, *args: str, fault: str | None = None) -> int:
    """The CLI in a child process (killed at `fault`: psledger/faults.py); its exit code."""
    env = {k: v for k, v in os.environ.items() if k not in ("PSLEDGER_FAULT", "PSLEDGER_DEBUG")}
    if fault:
        env["PSLEDGER_FAULT"] = fault
    done = subprocess.run(
        [sys.executable, "-m", "psledger", "--store", store, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    return done.returncode


def as_printed(data: Any) -> str:
    """What `emit_json` prints."""
    return orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n"


def replayed(store: str) -> dict[str, str]:
    """invoices (json, erp) and items (json) as the replay-based code gave
    them: every aggregate loaded and turned into its view."""
    wiring = bootstrap(Settings(store=store))
    try:
        invoices = queries.find_invoices(wiring.ledger)
        items = queries.find_items(wiring.ledger)
        return {
            "json": as_printed([invoice_view(i) for i in invoices]),
            "erp": as_printed([erp_payload(i) for i in invoices]),
            "items": as_printed([item_view(i) for i in items]),
        }
    finally:
        wiring.close()


def answered(store: str, *flags: str) -> dict[str, str]:
    """The same three answers, from the CLI (from the views)."""
    return {
        "json": psledger(store, "invoices", "--format", "json", *flags).output,
        "erp": psledger(store, "invoices", "--format", "erp", *flags).output,
        "items": psledger(store, "items", "--format", "json", *flags).output,
    }


def view_rows(store: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view table, sorted."""
    wiring = bootstrap(Settings(store=store))
    try:
        tables = [t for names in VIEW_TABLES.values() for t in names]
        return {
            t: sorted((tuple(r) for r in wiring.app.fetch(f"SELECT * FROM {t}")), key=repr)
            for t in tables
        }
    finally:
        wiring.close()


def status(store: str) -> dict[str, dict[str, Any]]:
    out = psledger(store, "projections", "status", "--format", "json").output
    return {s["name"]: s for s in orjson.loads(out)}


def execute(store: str, statement: str) -> None:
    wiring = bootstrap(Settings(store=store))
    try:
        with wiring.app.recorder.datastore.transaction(commit=True) as c:  # type: ignore[attr-defined]
            c.execute(statement)
    finally:
        wiring.close()


def drop_every_view(read_side: Any) -> None:
    """Every view's rows and position gone, as before a first catch-up."""
    for name, view in read_side.views.items():
        read_side.recorder.drop(name, [view.tracking_name])
