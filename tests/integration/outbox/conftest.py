"""The billed demo store, built once per session and copied per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from outbox_support import run_demo, sqlite_url


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("outbox-demo")
    path = where / "demo.db"
    run_demo(sqlite_url(path), where / "out")
    return path
