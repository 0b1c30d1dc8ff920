"""Read snapshots (psledger.store.snapshot) on both stores: a stream gives
every row of its statement in order, one statement runs at a time, and a
stream left part read ends with its snapshot and leaves the store's
connections fit for the next reads. PostgreSQL both ways: libpq's chunked
rows and, as with a libpq older than 17, a server-side cursor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings
from psledger.store import postgres as postgres_store
from psledger.store import snapshot
from psledger.store.snapshot import StreamOpen

COUNT = 2500
NUMBERS = (
    f"WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < {COUNT}) "
    "SELECT x, 'row ' || x FROM n"
)
# 4 MB of rows: more than the socket holds, so the server is still sending
WIDE = (
    "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 20000) "
    f"SELECT x, '{'w' * 200}' || x FROM n"
)


@pytest.fixture(params=["sqlite", "postgres-chunked", "postgres-cursor"])
def wiring(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Wiring]:
    if request.param == "sqlite":
        store = f"sqlite:///{tmp_path}/ledger.db"
    else:
        store = str(request.getfixturevalue("pg_url"))
        monkeypatch.setattr(postgres_store, "CHUNKED_ROWS", request.param == "postgres-chunked")
    monkeypatch.setattr(snapshot, "FETCH_ROWS", 100)
    w = bootstrap(Settings(store=store))
    yield w
    w.close()


def test_the_binary_wheel_has_chunked_rows() -> None:
    assert postgres_store.CHUNKED_ROWS, "psycopg[binary] bundles libpq 17 or later"


def test_a_stream_gives_every_row_in_order(wiring: Wiring) -> None:
    with wiring.app.snapshot() as reads:
        (count,) = reads.fetch("SELECT COUNT(*) FROM psledger_dedup")
        rows = list(reads.stream(NUMBERS))
        assert reads.fetch("SELECT COUNT(*) FROM psledger_dedup") == [count]
    assert rows == [(x, f"row {x}") for x in range(1, COUNT + 1)]


def test_a_statement_asked_while_a_stream_is_read_is_refused(wiring: Wiring) -> None:
    with wiring.app.snapshot() as reads:
        rows = reads.stream(NUMBERS)
        assert next(rows) == (1, "row 1")
        with pytest.raises(StreamOpen, match="one statement at a time") as refused:
            reads.fetch("SELECT COUNT(*) FROM psledger_dedup")
        assert "psledger_dedup" in str(refused.value) and "WITH RECURSIVE" in str(refused.value)
        with pytest.raises(StreamOpen):
            next(reads.stream("SELECT 1"))
        assert len(list(rows)) == COUNT - 1  # the stream itself reads on
        assert reads.fetch("SELECT COUNT(*) FROM psledger_dedup") == [(0,)]


def test_a_stream_left_part_read_ends_with_its_snapshot(wiring: Wiring) -> None:
    for _ in range(6):  # more snapshots than the pool has connections
        with wiring.app.snapshot() as reads:
            rows = reads.stream(WIDE)
            assert [next(rows)[0] for _ in range(5)] == [1, 2, 3, 4, 5]
        assert wiring.app.fetch("SELECT COUNT(*) FROM psledger_dedup") == [(0,)]
    with wiring.app.snapshot() as reads:
        assert sum(1 for _ in reads.stream(NUMBERS)) == COUNT
