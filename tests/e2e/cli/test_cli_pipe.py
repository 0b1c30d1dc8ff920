"""A listing read by a reader that stops early (`psledger items | head`):
the command ends quietly, its snapshot's stream closed before its
transaction and its store, on both stores."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = (
        f"sqlite:///{tmp_path}/ledger.db"
        if request.param == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    demo = subprocess.run(
        [sys.executable, "-m", "psledger", "--store", url, "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert demo.returncode == 0, demo.stderr
    return url


@pytest.mark.parametrize(
    "listing",
    [
        ["items", "--format", "json"],
        ["items"],
        ["invoices", "--format", "erp"],
        ["invoices", "--lines"],
    ],
)
def test_a_listing_whose_reader_stops_early_ends_quietly(store: str, listing: list[str]) -> None:
    whole = subprocess.run(
        [sys.executable, "-m", "psledger", "--store", store, *listing],
        capture_output=True,
        timeout=120,
    )
    assert whole.returncode == 0 and len(whole.stdout) > 2000, whole.stderr
    for read in (0, 100, 1500):
        proc = subprocess.Popen(
            [sys.executable, "-m", "psledger", "--store", store, *listing],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert proc.stdout is not None and proc.stderr is not None
        assert proc.stdout.read(read) == whole.stdout[:read]
        proc.stdout.close()
        errors = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 0, errors
        assert errors == "", (read, errors)
