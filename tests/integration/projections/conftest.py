"""The billed demo, on SQLite (built once, copied per test) and on PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from views_support import psledger


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("views-demo")
    path = where / "demo.db"
    psledger(f"sqlite:///{path}", "demo", "--out", str(where / "out"))
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def demo_store(request: pytest.FixtureRequest, demo_db: Path, tmp_path: Path) -> str:
    """A store holding the billed demo, whose views were never caught up."""
    if request.param == "sqlite":
        target = tmp_path / "ledger.db"
        shutil.copyfile(demo_db, target)
        return f"sqlite:///{target}"
    url: str = request.getfixturevalue("pg_url")
    psledger(url, "demo", "--out", str(tmp_path / "out"))
    return url


StoreFactory = Callable[[], str]
