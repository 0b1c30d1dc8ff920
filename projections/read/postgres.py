"""The views' tracking recorder on the PostgreSQL event store."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from psycopg.rows import tuple_row

from projections.read.recorders import ViewWriter
from projections.read.tables import TRACKING_TABLE


class PostgresViewRecorder(ViewWriter, PostgresTrackingRecorder):
    """Views in the PostgreSQL event store's database (its schema)."""

    p = "%s"
    bigint = "BIGINT"

    def __init__(self, datastore: Any) -> None:
        super().__init__(datastore, tracking_table_name=TRACKING_TABLE)
        self.has_checked_for_multi_row_tracking_table = True

    def _columns(self, c: Any, table: str) -> list[str]:
        """The table's columns, in order, the table named as the writes name it."""
        c.execute(
            "SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass(%s) "
            "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
            [table],
        )
        return [row["name"] for row in c.fetchall()]

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
