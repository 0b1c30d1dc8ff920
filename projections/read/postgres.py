"""The views' tracking recorder on the PostgreSQL event store."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg.rows import tuple_row

from projections.read.recorders import ROWS_PER_STATEMENT, ViewWriter
from projections.read.tables import KEYS, TRACKING_TABLE, ViewSchema

# A view table's columns in order: their names and their types.
ATTRIBUTES = (
    "SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute "
    "WHERE attrelid = to_regclass(%s) AND attnum > 0 AND NOT attisdropped ORDER BY attnum"
)


class PostgresViewRecorder(ViewWriter, PostgresTrackingRecorder):
    """Views in the PostgreSQL event store's database (its schema)."""

    p = "%s"
    bigint = "BIGINT"
    dialect = "postgres"

    def __init__(self, datastore: Any) -> None:
        super().__init__(datastore, tracking_table_name=TRACKING_TABLE)
        self.has_checked_for_multi_row_tracking_table = True
        self._column_types: dict[tuple[str, int], list[str]] = {}

    def _columns(self, c: Any, table: str) -> list[str]:
        """The table's columns, in order, the table named as the writes name it."""
        c.execute(ATTRIBUTES, [table])
        return [row["name"] for row in c.fetchall()]

    def _replace(self, c: Any, table: str, rows: list[tuple[tuple[Any, ...], Any]]) -> None:
        """Replace these rows (key -> row): `INSERT ... SELECT * FROM
        unnest(one array per column) ON CONFLICT (key) DO UPDATE`, in chunks
        of ROWS_PER_STATEMENT. The statement's text is the same whatever the
        chunk, so psycopg parses it once: it parses a statement longer than
        its cache takes (a VALUES list of every row's placeholders) anew each
        time, which was a third of a catch-up."""
        if not rows:
            return
        width = len(rows[0][1])
        update = self._upsert(c, table, KEYS[table], width)
        arrays = ", ".join(f"%b::{t}[]" for t in self._types(c, table, width))  # binary arrays
        sql = f"INSERT INTO {table} SELECT * FROM unnest({arrays}) {update}".encode()
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            chunk = [row for _key, row in rows[start : start + ROWS_PER_STATEMENT]]
            c.execute(sql, [list(column) for column in zip(*chunk, strict=True)])

    def _types(self, c: Any, table: str, width: int) -> list[str]:
        """The table's column types, in order; kept per table and row width,
        as `_upsert`'s clause is (which checks the width first)."""
        if (table, width) not in self._column_types:
            c.execute(ATTRIBUTES, [table])
            self._column_types[table, width] = [row["type"] for row in c.fetchall()]
        return self._column_types[table, width]

    def upgrade(self, view: str, schema: ViewSchema, tracking_names: list[str]) -> bool:
        upgraded = super().upgrade(view, schema, tracking_names)
        self._column_types.clear()  # as `_upsert`'s clauses are
        return upgraded

    def select(self, statement: str, params: list[Any]) -> list[Any]:
        """One read statement outside a transaction block (one round trip),
        its rows made as tuples (the store's connections make dicts)."""
        with self.datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as c:
            c.execute(statement.encode(), params)
            rows: list[Any] = c.fetchall()
            return rows

    def _insert_tracking(self, c: Any, tracking: Tracking) -> None:
        """The library's single-row upsert, unprepared (as the event store's
        connections are: see psledger.store.postgres)."""
        c.execute(
            self.insert_tracking_statement,
            {
                "application_name": tracking.application_name,
                "notification_id": tracking.notification_id,
            },
        )
        if c.fetchone() is None:
            raise IntegrityError(
                f"{tracking.application_name} is already at {tracking.notification_id} or beyond"
            )
