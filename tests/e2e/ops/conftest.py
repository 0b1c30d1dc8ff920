"""Fixtures for the operations tests: the demo firm ingested into a SQLite
store (plus one parked and one quarantined record), and `psledger serve`
over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from ops_support import DemoStore, LiveOps, make_demo_store, serve


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    tmp = tmp_path_factory.mktemp("ops")
    return make_demo_store(f"sqlite:///{tmp}/demo.db", tmp)


@pytest.fixture(scope="module")
def ops_server(demo_store: DemoStore) -> Iterator[LiveOps]:
    with serve(demo_store.url, demo_store.dir) as live:
        yield live
