"""A PostgreSQL writer hashes each batch on from the chain's head it wrote
last and inserts the entries only while the chain still ends there; when
another writer moved the head, or its own last write never committed, it
reads the head again. Either way the chain stays one chain."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest
from audit_store import SOW, Store, ok
from eventsourcing.persistence import StoredEvent

from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings
from psledger.store import journal

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(pg_url: str) -> Store:
    store = Store(pg_url)
    ok(store.psledger("ingest", "webhook", str(SOW)))
    return store


@pytest.fixture
def writers(store: Store) -> Iterator[tuple[Wiring, Wiring]]:
    first, second = bootstrap(Settings(store=store.url)), bootstrap(Settings(store=store.url))
    yield first, second
    first.close()
    second.close()


def batch(size: int) -> list[StoredEvent]:
    return [
        StoredEvent(uuid4(), 1, "tests.audit:Probe", f'{{"n": {n}}}'.encode()) for n in range(size)
    ]


def chained(store: Store) -> tuple[int, int]:
    ((events,),) = store.sql(f"SELECT count(*) FROM {store.events}")
    ((entries,),) = store.sql("SELECT count(*) FROM psledger_journal")
    return int(events), int(entries)


def test_one_writer_extends_the_chain_batch_after_batch(
    store: Store, writers: tuple[Wiring, Wiring]
) -> None:
    recorder = writers[0].app.recorder
    for size in (1, 3, 40):
        recorder.insert_events(batch(size))
    events, entries = chained(store)
    assert events == entries
    assert f"verified {events} events" in ok(store.psledger("audit", "verify"))


def test_a_writer_reads_the_head_again_after_another_moved_it(
    store: Store, writers: tuple[Wiring, Wiring]
) -> None:
    one, other = (w.app.recorder for w in writers)
    one.insert_events(batch(2))
    other.insert_events(batch(3))  # the head `one` wrote last is no longer the head
    one.insert_events(batch(2))
    other.insert_events(batch(1))
    events, entries = chained(store)
    assert events == entries
    assert f"verified {events} events" in ok(store.psledger("audit", "verify"))


def test_a_head_from_a_write_that_never_committed_is_not_trusted(
    store: Store, writers: tuple[Wiring, Wiring]
) -> None:
    recorder = writers[0].app.recorder
    recorder.insert_events(batch(2))
    # given the head the writer remembers is one its database never kept
    position, _hash = journal._heads[recorder]
    journal._heads[recorder] = (position, bytes(32))
    # when it writes again, then it chains on from the head the database has
    recorder.insert_events(batch(2))
    events, entries = chained(store)
    assert events == entries
    assert f"verified {events} events" in ok(store.psledger("audit", "verify"))
