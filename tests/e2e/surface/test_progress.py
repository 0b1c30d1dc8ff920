"""Long commands show a progress bar on a terminal, and only there."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

from surface_support import ROOT, process

FIRM = ROOT / "tests" / "fixtures" / "debezium" / "psa_firm.jsonl"


def on_a_terminal(store: Path, *args: str) -> tuple[int, str]:
    """Run psledger with stderr on a pseudo-terminal; its exit code and what
    the terminal showed."""
    leader, follower = pty.openpty()
    child = subprocess.Popen(
        [sys.executable, "-m", "psledger", "--store", f"sqlite:///{store}", *args],
        stdout=subprocess.DEVNULL,
        stderr=follower,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(follower)
    shown = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    return child.wait(timeout=300), shown.decode("utf-8", "replace")


def test_ingest_shows_progress_on_a_terminal(tmp_path: Path) -> None:
    code, shown = on_a_terminal(tmp_path / "ledger.db", "ingest", "debezium", str(FIRM))
    assert code == 0, shown
    assert "ingesting" in shown and "28/28" in shown


def test_ingest_output_stays_plain_when_redirected(tmp_path: Path) -> None:
    done = process(tmp_path / "ledger.db", "ingest", "debezium", str(FIRM))
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stderr + done.stdout
    assert "ingesting" not in done.stderr


def test_billing_shows_a_spinner_on_a_terminal(tmp_path: Path) -> None:
    code, shown = on_a_terminal(tmp_path / "ledger.db", "bill", "--period", "2026-01")
    assert code == 0, shown
    assert "billing 2026-01" in shown


def test_a_read_shows_the_views_catching_up_on_a_terminal_and_only_then(tmp_path: Path) -> None:
    # given the firm ingested, its views not yet caught up
    store = tmp_path / "ledger.db"
    done = process(store, "ingest", "debezium", str(FIRM))
    assert done.returncode == 0, done.stderr
    status = process(store, "projections", "status", "--format", "json")
    assert status.returncode == 0, status.stderr
    lags = {view["lag"] for view in json.loads(status.stdout)}
    assert len(lags) == 1 and lags.pop() > 0, status.stdout
    last = json.loads(status.stdout)[0]["last_notification_id"]
    # when an auditor reads the items on a terminal
    code, shown = on_a_terminal(store, "items")
    # then a bar counts the events the views take in, to the last one
    assert code == 0, shown
    assert "catching the views up" in shown and f"{last}/{last}" in shown, shown
    # and once they are caught up, a read shows no bar
    code, shown = on_a_terminal(store, "items")
    assert code == 0, shown
    assert "catching" not in shown, shown


def test_the_views_catch_up_quietly_when_redirected(tmp_path: Path) -> None:
    store = tmp_path / "ledger.db"
    assert process(store, "ingest", "debezium", str(FIRM)).returncode == 0
    listed = process(store, "items")
    assert listed.returncode == 0, listed.stderr
    assert listed.stderr == "" and "\x1b" not in listed.stdout
    status = process(store, "projections", "status", "--format", "json")
    assert {view["lag"] for view in json.loads(status.stdout)} == {0}, status.stdout
