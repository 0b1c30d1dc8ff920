"""Long commands show a progress bar on a terminal, and only there."""

from __future__ import annotations

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
