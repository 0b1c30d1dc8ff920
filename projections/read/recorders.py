"""Tracking recorders for the views: eventsourcing's SQLite and PostgreSQL
tracking recorders, on the event store's own datastore, writing a view's rows
and its position in one transaction.

The position is written first: a second writer of the same page (another
process catching up the same view) waits on that row and then finds the
position already there, so its transaction rolls back and nothing is applied
twice.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.sqlite import SQLiteTrackingRecorder

from projections.read.tables import (
    DIALECT_INDEXES,
    KEYS,
    TRACKING_TABLE,
    VIEW_TABLES,
    ViewSchema,
)
from projections.read.writes import APP_NAME, ViewWrites

UNIQUE_VIOLATION = "23505"
ROWS_PER_STATEMENT = 500
PARAMS_PER_STATEMENT = 30000  # under SQLite's 32766 variables (PostgreSQL: 65535)

# `audit trace`'s one read ({p}: the placeholder; the invoice number three
# times): the trace head (part 0), the invoice's events (part 1) and its
# lines' items' events (part 2), each an index search whose cost is the
# invoice's lines and its items' histories, never the store's. One statement:
# one snapshot and one round trip.
# No ORDER BY: the rows are put in order (part, line_no, version) in Python,
# which moves pointers, where the database's sort copied every row's entry
# (about 0.8 MB for an invoice of 220 lines) into a temporary B-tree.
TRACE_READ = (
    "SELECT 0 AS part, 0 AS line_no, 0 AS version, NULL AS event, NULL AS document, "
    "drafted_at AS at, head AS payload, lines AS extra "
    "FROM psledger_view_trace WHERE number = {p} "
    "UNION ALL SELECT 1, 0, version, NULL, NULL, NULL, entry, NULL "
    "FROM psledger_view_invoice_events WHERE number = {p} "
    "UNION ALL SELECT 2, l.line_no, e.version, e.event, e.document, e.recorded_at, e.entry, NULL "
    "FROM psledger_view_lineage l JOIN psledger_view_item_events e "
    "ON e.item_kind = l.item_kind AND e.item_id = l.item_id WHERE l.number = {p}"
)
TRACE_ORDER = itemgetter(0, 1, 2)


class _Moved(Exception):
    """The view is no longer where this writer found it: roll back."""


class ViewWriter:
    """The SQL both dialects share; `p` is the placeholder."""

    p = "?"
    bigint = "INTEGER"
    dialect = "sqlite"
    datastore: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # (table, row width) -> the ON CONFLICT clause of `_upsert`
        self._upserts: dict[tuple[str, int], str] = {}
        super().__init__(*args, **kwargs)

    def _insert_tracking(self, c: Any, tracking: Tracking) -> None:
        raise NotImplementedError

    def write(
        self, view: str, writes: ViewWrites, tracking: Tracking, expected: int | None = None
    ) -> bool:
        """The rows and the new position in one transaction. With `expected`,
        only if the view is still at that position (a view dropped or moved
        on by another process meanwhile is left alone); without it, only if
        the new position is beyond the stored one (the library's rule)."""
        p = self.p
        try:
            with self.datastore.transaction(commit=True) as c:
                if expected is None:
                    self._insert_tracking(c, tracking)
                elif not self._advance(c, tracking, expected):
                    raise _Moved
                for number in sorted(writes.replaced_lineage):
                    c.execute(f"DELETE FROM psledger_view_lineage WHERE number = {p}", [number])
                for table, by_key in writes.upserts.items():
                    self._replace(c, table, list(by_key.items()))
        except (IntegrityError, _Moved):
            return False
        except Exception as exc:
            if getattr(exc, "sqlstate", None) == UNIQUE_VIOLATION:
                return False  # another process wrote this view's first position
            raise
        return True

    def _replace(self, c: Any, table: str, rows: list[tuple[tuple[Any, ...], Any]]) -> None:
        """Replace these rows (key -> row) of a view table: one INSERT ... ON
        CONFLICT (key) DO UPDATE per chunk of rows. Each row is found through
        the key's index; a DELETE of a list of composite keys (`(a, b) IN
        (VALUES ...)`) made SQLite scan the whole table per chunk, so a
        catch-up grew with the square of the view."""
        if not rows:
            return
        p, keys, width = self.p, KEYS[table], len(rows[0][1])
        per = max(1, min(ROWS_PER_STATEMENT, PARAMS_PER_STATEMENT // width))
        one_row = f"({', '.join([p] * width)})"
        update = self._upsert(c, table, keys, width)
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            c.execute(
                f"INSERT INTO {table} VALUES {', '.join([one_row] * len(chunk))} {update}",
                [v for _key, row in chunk for v in row],
            )

    def _upsert(self, c: Any, table: str, keys: tuple[str, ...], width: int) -> str:
        """The ON CONFLICT clause that makes an INSERT into `table` replace
        the row with the same key: every other column set to the new value.
        Kept per table and row width (a view of a new shape has another)."""
        cache = self._upserts
        if (table, width) not in cache:
            columns = self._columns(c, table)
            if len(columns) != width:
                raise RuntimeError(
                    f"the view table {table} has {len(columns)} columns, its rows {width}"
                )
            sets = ", ".join(f"{name} = excluded.{name}" for name in columns if name not in keys)
            action = f"DO UPDATE SET {sets}" if sets else "DO NOTHING"
            cache[table, width] = f"ON CONFLICT ({', '.join(keys)}) {action}"
        return cache[table, width]

    def _columns(self, c: Any, table: str) -> list[str]:
        """The table's columns, in order (SQLite; PostgreSQL overrides)."""
        c.execute(f"SELECT name FROM pragma_table_info({self.p}) ORDER BY cid", [table])
        return [row["name"] for row in c.fetchall()]

    def _advance(self, c: Any, tracking: Tracking, expected: int) -> bool:
        """Compare and set the position: a write first, so that it takes the
        write lock (SQLite) or the row lock (PostgreSQL) before anything else."""
        p, name, new = self.p, tracking.application_name, tracking.notification_id
        if expected:
            c.execute(
                f"UPDATE {TRACKING_TABLE} SET notification_id = {p} "
                f"WHERE application_name = {p} AND notification_id = {p} RETURNING notification_id",
                [new, name, expected],
            )
        else:
            c.execute(
                f"INSERT INTO {TRACKING_TABLE} VALUES ({p}, {p}) "
                "ON CONFLICT (application_name) DO NOTHING RETURNING notification_id",
                [name, new],
            )
        return c.fetchone() is not None

    def drop(self, view: str, tracking_names: list[str]) -> None:
        """The view's rows and positions, gone in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            for table in VIEW_TABLES[view]:
                c.execute(f"DELETE FROM {table}")
            for name in tracking_names:
                c.execute(f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {self.p}", [name])

    def trace_rows(
        self, number: str
    ) -> tuple[tuple[Any, ...] | None, list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The lineage view's rows of invoice `number` (`TRACE_READ`):
        (drafted_at, head, lines) or None, its events' entries in order, and
        (line_no, event, document, recorded_at, entry) of its lines' items'
        events by line and version."""
        head: tuple[Any, ...] | None = None
        events: list[tuple[Any, ...]] = []
        items: list[tuple[Any, ...]] = []
        rows = self.select(TRACE_READ.format(p=self.p), [number, number, number])
        rows.sort(key=TRACE_ORDER)
        for part, line_no, _, event, document, at, payload, lines in rows:
            if part == 2:
                items.append((line_no, event, document, at, payload))
            elif part == 1:
                events.append((payload,))
            else:
                head = (at, payload, lines)
        if head is None:
            return None, [], []
        return head, events, items

    def select(self, statement: str, params: list[Any]) -> list[Any]:
        """One read statement's rows (unpacking in column order)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, params)
            return list(c.fetchall())

    def schema(self, view: str) -> int:
        """The shape the store's `view` is at (no row: migration 7's, 1)."""
        found = self.max_tracking_id(schema_name(view))  # type: ignore[attr-defined]
        return int(found) if found is not None else 1

    def upgrade(self, view: str, schema: ViewSchema, tracking_names: list[str]) -> bool:
        """Bring `view` to `schema`, if it is older, in one transaction: the
        new number first (compare and set, so one process does it), then its
        tables dropped and created anew and its positions forgotten, so that
        the next catch-up replays it. False if it was there already."""
        p = self.p
        with self.datastore.transaction(commit=True) as c:
            c.execute(
                f"INSERT INTO {TRACKING_TABLE} VALUES ({p}, {p}) "
                "ON CONFLICT (application_name) DO UPDATE "
                f"SET notification_id = excluded.notification_id "
                f"WHERE {TRACKING_TABLE}.notification_id < excluded.notification_id "
                "RETURNING notification_id",
                [schema_name(view), schema.version],
            )
            if c.fetchone() is None:
                return False
            for table in VIEW_TABLES[view]:
                c.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in schema.ddl:
                c.execute(statement.format(bigint=self.bigint))
            if view in DIALECT_INDEXES:
                c.execute(DIALECT_INDEXES[view][self.dialect])
            self._upserts.clear()  # the tables' columns may have changed
            for name in tracking_names:
                c.execute(f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {p}", [name])
        return True

    def set_position(self, name: str, notification_id: int) -> None:
        """A marker row (a rebuild's target), replacing any before it."""
        p = self.p
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {p}", [name])
            c.execute(f"INSERT INTO {TRACKING_TABLE} VALUES ({p}, {p})", [name, notification_id])

    def clear_position(self, name: str) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {self.p}", [name])


class SQLiteViewRecorder(ViewWriter, SQLiteTrackingRecorder):
    """Views in the SQLite event store's file."""

    def __init__(self, datastore: Any) -> None:
        super().__init__(datastore)
        self.insert_tracking_statement = (
            f"INSERT INTO {TRACKING_TABLE} "
            "VALUES (:application_name, :notification_id) "
            "ON CONFLICT (application_name) DO UPDATE "
            "SET notification_id = :notification_id "
            f"WHERE {TRACKING_TABLE}.notification_id < :notification_id "
            "RETURNING notification_id"
        )
        self.select_max_tracking_id_statement = (
            f"SELECT MAX(notification_id) FROM {TRACKING_TABLE} WHERE application_name=?"
        )
        self.has_checked_for_multi_row_tracking_table = True

    def _insert_tracking(self, c: Any, tracking: Tracking) -> None:
        SQLiteTrackingRecorder._insert_tracking(self, c, tracking)


def schema_name(view: str) -> str:
    """The tracking row that holds the shape `view` is at."""
    return f"{APP_NAME}/{view}#schema"


def view_recorder(app_recorder: Any) -> Any:
    """The view recorder for the store the application records in."""
    datastore = app_recorder.datastore
    if type(datastore).__name__ == "SQLiteDatastore":
        return SQLiteViewRecorder(datastore)
    from projections.read.postgres import PostgresViewRecorder

    return PostgresViewRecorder(datastore)
