"""The SQLite event store: eventsourcing's recorder plus psledger's side tables."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from domain.errors import InfrastructureError
from psledger.store import journal, snapshot
from psledger.store.errors import StoreUnavailable, store_errors
from psledger.store.notifications import SQLITE_PAGES, notification, page_query
from psledger.store.rows import LedgerRows
from psledger.store.tables import SQLITE, LedgerTables


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """Writes a batch's events and its `LedgerRows` in one SQLite transaction.

    The schema (eventsourcing's table and psledger's) is created and changed
    by psledger/store/migrations.py only; `create_table_statements` stays
    eventsourcing's own DDL, which migration 1 runs."""

    tables = LedgerTables(SQLITE)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with store_errors():
            return super().insert_events(stored_events, **kwargs)

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        rows: LedgerRows | None = kwargs.get("ledger_rows")
        if rows:
            for statement, params in self.tables.writes(rows):
                c.executemany(statement, params)
        journal.record(self, c, ids, stored_events)  # the chain hash, same transaction
        return ids

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        with store_errors():
            return super().select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        tail, params = page_query(SQLITE_PAGES, start, limit, stop, topics, inclusive_of_start)
        statement = (
            "SELECT rowid, originator_id, originator_version, topic, state "
            f"FROM {self.events_table_name}{tail}"
        )
        rows = self.fetch(statement, params)
        convert = self.convert_originator_id
        return [notification(row[0], convert(row[1]), row[2], row[3], row[4]) for row in rows]

    def max_notification_id(self) -> int:
        with store_errors():
            return super().max_notification_id()

    def fetch(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with store_errors(), self.datastore.transaction(commit=False) as c:
            return _tuples(c.sqlite_cursor, statement, params).fetchall()  # this read's own cursor

    @contextmanager
    def snapshot(self) -> Iterator[SQLiteSnapshot]:
        """A read-only transaction (psledger.store.snapshot)."""
        with store_errors(), self.datastore.transaction(commit=False) as c:
            reads = SQLiteSnapshot(c.sqlite_cursor.connection)
            try:
                yield reads
            finally:
                reads.close()

    @contextmanager
    def schema_session(self) -> Iterator[SQLiteSchemaSession]:
        yield SQLiteSchemaSession(self)


class SQLiteSnapshot(snapshot.Streams):
    """Statements on one connection inside its BEGIN: one state of the file."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self.connection = connection

    def _fetch(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return _tuples(self.connection.cursor(), statement, params).fetchall()

    def _rows(
        self, statement: str, params: Sequence[Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        cursor = _tuples(self.connection.cursor(), statement, params)
        try:
            while rows := cursor.fetchmany(snapshot.FETCH_ROWS):
                yield from rows
        finally:
            cursor.close()


def _tuples(cursor: sqlite3.Cursor, statement: str, params: Sequence[Any]) -> sqlite3.Cursor:
    """The cursor, having run one statement, set to give tuples (not `sqlite3.Row`s)."""
    cursor.row_factory = None
    cursor.execute(statement, list(params))
    return cursor


class _Cursor:
    """A migration's cursor: tuples, and DDL as is."""

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self.c = cursor

    def execute(self, statement: Any, params: Sequence[Any] = ()) -> None:
        self.c.execute(statement, list(params))

    def executemany(self, statement: Any, rows: Sequence[Sequence[Any]]) -> None:
        self.c.executemany(statement, rows)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in self.c.fetchall()]

    def ddl(self, statement: Any) -> None:
        self.c.execute(statement)


class SQLiteSchemaSession:
    """Migrations on SQLite: every migration's transaction is BEGIN IMMEDIATE,
    which takes the database's one write lock; no lock spans the upgrade."""

    dialect = SQLITE

    def __init__(self, recorder: LedgerSQLiteRecorder) -> None:
        self.recorder = recorder

    def library_statements(self) -> list[Any]:
        return list(self.recorder.create_table_statements)

    def notifications_statement(self) -> str:
        return (
            "SELECT rowid, originator_id, originator_version, topic, state FROM "
            f"{self.recorder.events_table_name} WHERE rowid > ? ORDER BY rowid LIMIT ?"
        )

    def read(self, statement: str) -> list[tuple[Any, ...]]:
        return self.recorder.fetch(statement, ())

    def has_version_table(self) -> bool:
        from psledger.store.schema import VERSION_TABLE

        found = self.read(
            f"SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = '{VERSION_TABLE}'"
        )
        return bool(found)

    @contextmanager
    def exclusive(self, wait_seconds: float) -> Iterator[None]:
        yield

    @contextmanager
    def transaction(self, wait_seconds: float) -> Iterator[_Cursor]:
        deadline = time.monotonic() + wait_seconds
        with self.recorder.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor().sqlite_cursor
            while True:
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise StoreUnavailable(
                            "the event store is locked by another upgrade; try again"
                        ) from exc
            try:
                yield _Cursor(cursor)
            except BaseException:
                conn.rollback()
                raise
            try:
                conn.commit()
            except sqlite3.Error as exc:
                raise InfrastructureError(f"cannot commit a schema migration: {exc}") from exc

    def after_upgrade(self) -> None:
        pass
