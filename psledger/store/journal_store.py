"""The journal read back, created and backfilled: `JournalStore`, over one
recorder's store (see psledger/store/journal.py for the journal itself)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from psledger.store.journal_chain import GENESIS, chain_entries
from psledger.store.journal_sql import (
    JOURNAL_TABLE,
    MAX_POSITION,
    EventRow,
    JournalSql,
    dialect_of,
    event_row,
    row_tuple,
)

BACKFILL_PAGE = 5000

log = logging.getLogger(__name__)


def insert_entries(sql: JournalSql, cursor: Any, rows: list[tuple[int, bytes]]) -> None:
    """Chain entries in as few statements as the driver allows: on PostgreSQL
    one INSERT of two binary arrays per 5,000 (no hex to encode and parse),
    on SQLite one prepared statement run over all of them."""
    if sql.name == "sqlite":
        cursor.executemany(sql.insert(), rows)
        return
    for start in range(0, len(rows), 5000):
        piece = rows[start : start + 5000]
        cursor.execute(
            f"INSERT INTO {JOURNAL_TABLE} (notification_id, chain_hash) "
            "SELECT * FROM unnest(%b::bigint[], %b::bytea[])",
            [[r[0] for r in piece], [r[1] for r in piece]],
        )


class JournalStore:
    """The journal and the events of one recorder's store, read in pages."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.sql = dialect_of(recorder)

    @contextmanager
    def _cursor(self, *, write: bool = False, plain: bool = False) -> Iterator[Any]:
        """A cursor in a transaction; `plain`: one that reads rows as bare
        tuples (and, on PostgreSQL, in the binary format: no hex to decode)."""
        datastore = self.recorder.datastore
        if self.sql.name == "sqlite":
            if not write:
                with datastore.transaction(commit=False) as c:
                    if plain:
                        c.sqlite_cursor.row_factory = None
                    yield c
                return
            with datastore.get_connection(commit=True) as conn:
                # Take the write lock before reading the head (BEGIN IMMEDIATE),
                # so no writer slips in between.
                c = conn.cursor()
                c.execute("BEGIN IMMEDIATE")
                try:
                    yield c
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
            return
        with datastore.get_connection() as conn:
            if write:
                with conn.transaction(), conn.cursor() as curs:
                    for statement in self.sql.lock():
                        curs.execute(statement)
                    yield curs
            elif plain:
                from psycopg.rows import tuple_row

                with conn.cursor(binary=True, row_factory=tuple_row) as curs:
                    yield curs
            else:
                with conn.cursor() as curs:
                    yield curs

    def _all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._cursor() as c:
            c.execute(statement, list(params))
            return [row_tuple(r) for r in c.fetchall()]

    def exists(self) -> bool:
        return bool(self._all(self.sql.exists())[0][0])

    def create(self) -> None:
        with self._cursor(write=True) as c:
            for statement in self.sql.create():
                c.execute(statement)

    def head(self) -> tuple[int, bytes] | None:
        rows = self._all(self.sql.head())
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def entry_before(self, position: int) -> tuple[int, bytes] | None:
        rows = self._all(self.sql.entry_before(), [position])
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def max_position(self) -> int:
        return int(self._all(self.sql.max_position())[0][0] or 0)

    def events_page(self, after: int, limit: int) -> list[EventRow]:
        """Up to `limit` events after position `after`, in position order."""
        with self._cursor() as c:
            c.execute(self.sql.events_between(limit=True), [after, MAX_POSITION, limit])
            return [event_row(r) for r in c.fetchall()]

    def chain_page(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` events after position `after`, in position order, as
        bare tuples: (position, originator id bytes, version, topic bytes,
        state, chain entry or None); one query, one snapshot."""
        with self._cursor(plain=True) as c:
            c.execute(self.sql.chain_page(), [after, after, limit])
            rows: list[tuple[Any, ...]] = c.fetchall()
            return rows

    def count_entries(self, after: int, before: int) -> int:
        """How many chain entries lie strictly between two positions."""
        return int(self._all(self.sql.count_entries(), [after, before])[0][0])

    def count_events(self, after: int, before: int) -> tuple[int, int | None]:
        """How many events lie strictly between two positions, and the last."""
        count, last = self._all(self.sql.count_events(), [after, before])[0]
        return int(count), None if last is None else int(last)

    def first_orphan(self, after: int, before: int) -> int | None:
        """The first chain entry strictly between two positions without its event."""
        rows = self._all(self.sql.first_orphan(), [after, before])
        return int(rows[0][0]) if rows else None

    def events_before(self, position: int, limit: int) -> list[EventRow]:
        """Up to `limit` events before `position`, newest first."""
        return [event_row(r) for r in self._all(self.sql.events_before(), [position, limit])]

    def entries(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        rows = self._all(self.sql.entries_between(), [after, upto])
        return [(int(n), bytes(h)) for n, h in rows]

    def backfill(
        self, page: int = BACKFILL_PAGE, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Chain every unchained event, one bounded transaction per page;
        resumable (each page starts from the chain's head). Returns how many
        events it chained."""
        done = 0
        while True:
            with self._cursor(write=True) as c:
                c.execute(self.sql.head())
                found = c.fetchone()
                head_id, previous = (
                    (0, GENESIS)
                    if found is None
                    else (int(row_tuple(found)[0]), bytes(row_tuple(found)[1]))
                )
                c.execute(self.sql.events_between(limit=True), [head_id, MAX_POSITION, page])
                rows = chain_entries(previous, map(event_row, c.fetchall()))
                if rows:
                    insert_entries(self.sql, c, rows)
            done += len(rows)
            if progress is not None and rows:
                progress(done, rows[-1][0])
            if len(rows) < page:
                return done


def backfill_journal(recorder: Any) -> None:
    """Chain every event stored before the journal existed (resumable)."""
    chained = JournalStore(recorder).backfill()
    if chained:
        log.info("journal: chained %d events stored before the journal existed", chained)


def upgrade(recorder: Any) -> int:
    """Create the journal table and chain every event not yet chained."""
    store = JournalStore(recorder)
    store.create()
    return store.backfill()
