"""The SQLite event store: eventsourcing's recorder plus psledger's side tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from psledger.store.rows import LedgerRows
from psledger.store.tables import SQLITE, LedgerTables


class LedgerSQLiteRecorder(SQLiteApplicationRecorder):
    """Writes a batch's events and its `LedgerRows` in one SQLite transaction."""

    tables = LedgerTables(SQLITE)

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.tables.create_statements()]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        rows: LedgerRows | None = kwargs.get("ledger_rows")
        if rows:
            for statement, params in self.tables.writes(rows):
                c.executemany(statement, params)
        return ids

    def fetch(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, list(params))
            return [tuple(row) for row in c.fetchall()]
