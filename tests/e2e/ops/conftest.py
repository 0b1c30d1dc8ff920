"""Fixtures for the operations tests: the demo firm ingested into a SQLite
store (plus one parked and one quarantined record), and `psledger serve`
over it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ops_support import LiveOps, cli, parking_and_quarantine_file, serve


@dataclass(frozen=True)
class DemoStore:
    url: str
    dir: Path


def make_demo_store(url: str, tmp: Path) -> DemoStore:
    """`psledger demo` into the store, then a real ingest that parks one
    record and quarantines another."""
    cli("--store", url, "demo", "--out", str(tmp / "demo"))
    extras = parking_and_quarantine_file(tmp / "demo" / "psa-2026-02.jsonl", tmp / "extras.jsonl")
    cli("--store", url, "ingest", "debezium", str(extras))
    return DemoStore(url, tmp)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> DemoStore:
    tmp = tmp_path_factory.mktemp("ops")
    return make_demo_store(f"sqlite:///{tmp}/demo.db", tmp)


@pytest.fixture(scope="module")
def ops_server(demo_store: DemoStore) -> Iterator[LiveOps]:
    with serve(demo_store.url, demo_store.dir) as live:
        yield live
