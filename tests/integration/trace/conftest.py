"""A demo firm's ledger (SQLite or PostgreSQL), billed for January and February."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from psledger.bootstrap import Wiring, bootstrap
from psledger.demo.run import run_demo
from psledger.settings import Settings


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def demo(store: str, tmp_path: Path) -> Iterator[Wiring]:
    wiring = bootstrap(Settings(store=store))
    try:
        run_demo(wiring, tmp_path / "files")
        yield wiring
    finally:
        wiring.close()
