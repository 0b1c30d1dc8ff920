"""Fixtures for the HTTP end-to-end tests: a real uvicorn server per test
(`server`, SQLite in a temp dir) or per module (`shared_server`)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from live_http import Credentials, LiveServer, serve


@pytest.fixture
def credentials() -> Credentials:
    return Credentials.fresh()


@pytest.fixture
def server(tmp_path: Path, credentials: Credentials) -> Iterator[LiveServer]:
    config = credentials.write_config(tmp_path / "psledger.toml")
    with serve(f"sqlite:///{tmp_path}/ledger.db", credentials, config) as live:
        yield live


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    tmp = tmp_path_factory.mktemp("http")
    credentials = Credentials.fresh()
    config = credentials.write_config(tmp / "psledger.toml")
    with serve(f"sqlite:///{tmp}/ledger.db", credentials, config) as live:
        yield live
