"""The PostgreSQL event store: eventsourcing's recorder plus psledger's side tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL

from psledger.store.rows import LedgerRows
from psledger.store.tables import POSTGRES, LedgerTables


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """Writes a batch's events and its `LedgerRows` in one PostgreSQL transaction."""

    tables = LedgerTables(POSTGRES)

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        super().__init__(datastore, events_table_name=events_table_name)
        for statement in self.tables.create_statements():
            self.sql_create_statements.append(SQL(statement).format())

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        super()._insert_events(curs, stored_events, **kwargs)
        rows: LedgerRows | None = kwargs.get("ledger_rows")
        if rows:
            for statement, params in self.tables.writes(rows):
                curs.executemany(statement.encode(), params)

    def fetch(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(statement.encode(), list(params))
            return [tuple(row.values()) for row in curs.fetchall()]
