"""The PostgreSQL event store: eventsourcing's recorder plus psledger's side tables.

What this recorder changes in eventsourcing's, and why:

- No pipeline mode. eventsourcing's `insert_events` sends everything in one
  `conn.pipeline()` and calls `Pipeline.sync()` after the events' INSERT.
  psycopg's pipeline loop stops sending once its command queue is empty even
  when libpq still holds unsent bytes (PQflush() said "more"), and `sync()`
  then waits only for the socket to become readable: with a large message
  (thousands of events in one array parameter) the server waits for the rest
  of it (ClientRead) while the client waits for an answer, for ever (psycopg
  issue #685; tools/pg_pipeline_deadlock.py reproduces it). Here one plain
  transaction writes the side rows and the events in bounded statements
  (`ROWS_PER_STATEMENT`, `EVENTS_PER_STATEMENT`, `BYTES_PER_STATEMENT`).
- No prepared statements (`prepare_threshold=None` on every connection).
  psycopg keeps its own map of the statements it prepared per connection
  and, in pipeline mode, updates it only when results come back; a rollback
  in a pipelined transaction (a dedup key or aggregate version another
  process wrote first) clears that map and queues a DEALLOCATE ALL that
  lands after statements already queued under a cached name, so a later
  execute names a statement the server no longer has ("prepared statement
  _pg3_35 does not exist"). The statements are cheap to plan.
- Connections are checked before use (`POSTGRES_PRE_PING`, set in
  psledger/settings.py), and one found dead makes the pool check all its
  idle ones (`tune`): after a server restart the pool replaces its dead
  connections instead of handing each out once to fail. A side-table read
  is retried once on a broken connection.
- Events are read in the binary format (notification pages, and `fetch`
  with `binary=True` for the bulk loader): a state comes as its bytes, not
  as hex text twice its size for the driver to decode.
- NUL characters, which PostgreSQL text cannot hold, are written to text
  columns as the four characters ``\\x00`` (raw bytes stay BYTEA).
- Errors leave as psledger.store.errors describes (no internal names).
- No DDL at start-up: the schema is psledger/store/migrations.py's.
"""

from __future__ import annotations

import contextlib
import re
import time
import weakref
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

import psycopg
from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg import Connection, Cursor
from psycopg.rows import DictRow, tuple_row
from psycopg.sql import SQL, Composable, Composed, Identifier
from psycopg_pool import ConnectionPool, PoolTimeout

from psledger.store import journal, snapshot
from psledger.store.errors import StoreUnavailable, store_errors
from psledger.store.notifications import POSTGRES_PAGES, notification, page_query
from psledger.store.rows import LedgerRows
from psledger.store.tables import POSTGRES, LedgerTables

ROWS_PER_STATEMENT = 500
PING_AFTER_IDLE = 1.0  # seconds a connection may rest before its next use pings it
EVENTS_PER_STATEMENT = 1000
BYTES_PER_STATEMENT = 4 * 1024 * 1024
SCHEMA_LOCK_KEY = 0x70736C6564676572  # "psledger" in ASCII: the upgrade's advisory lock
NUL_ESCAPE = "\\x00"

R = TypeVar("R")

_VALUES = re.compile(r"^(INSERT INTO \S+ VALUES )(\([^)]*\))(.*)$", re.DOTALL)
_CONFLICT_UPDATE = re.compile(r"ON CONFLICT \(([^)]*)\) DO UPDATE")
_DELETE = re.compile(r"^DELETE FROM (\S+) WHERE (\w+ = %s(?: AND \w+ = %s)*)$")
_KEY_EQ = re.compile(r"(\w+) = %s")


def text_safe(value: Any) -> Any:
    """`value`, with NUL in a string written as the four characters \\x00."""
    if isinstance(value, str) and "\x00" in value:
        return value.replace("\x00", NUL_ESCAPE)
    return value


# libpq 17 and later hand a result over in chunks (psycopg's `stream(size=)`;
# psycopg asks the libpq it runs and, for its C build, the one it was built with)
CHUNKED_ROWS = psycopg.capabilities.has_stream_chunked()


def _safe_row(row: Sequence[Any]) -> list[Any]:
    return [[text_safe(x) for x in v] if isinstance(v, list) else text_safe(v) for v in row]


def _fetch_rows(
    conn: Connection[Any], statement: str, params: Sequence[Any], binary: bool = False
) -> list[tuple[Any, ...]]:
    """One read statement's rows, as tuples, on this connection; `binary`:
    in PostgreSQL's binary format (a BYTEA comes as its bytes, not as hex)."""
    with conn.cursor(row_factory=tuple_row, binary=binary) as c:
        c.execute(statement.encode(), _safe_row(params))
        return c.fetchall()


def tune(datastore: PostgresDatastore) -> Callable[[], None]:
    """Connection settings the library's datastore does not expose. Returns
    what makes every connection be pinged again before its next use."""
    pool = datastore.pool
    kwargs = pool.kwargs
    assert isinstance(kwargs, dict), "the library's datastore passes a dict"
    kwargs["prepare_threshold"] = None
    pool_ref = weakref.ref(pool)
    checked: weakref.WeakKeyDictionary[Connection[Any], float] = weakref.WeakKeyDictionary()

    def check(conn: Connection[Any]) -> None:
        """The pre-use check (POSTGRES_PRE_PING), plus: a dead connection
        means the server restarted or dropped us, so sweep every idle one at
        once. psycopg_pool otherwise tries them one by one with a growing
        back-off (1, 2, 4 s...) and a request times out behind five.

        A connection checked less than PING_AFTER_IDLE seconds ago is not
        pinged again: a batch checks out a connection for each of its reads,
        and a server lost in between is met by the reads' and writes' retry."""
        now = time.monotonic()
        if now - checked.get(conn, -PING_AFTER_IDLE) < PING_AFTER_IDLE and not conn.closed:
            checked[conn] = now
            return
        try:
            ConnectionPool.check_connection(conn)
        except Exception:
            if (swept := pool_ref()) is not None:
                swept.check()
            raise
        checked[conn] = now

    pool._check = check  # psycopg_pool keeps the `check` callback here
    return checked.clear


class LedgerPostgresRecorder(PostgresApplicationRecorder):
    """Writes a batch's events and its `LedgerRows` in one PostgreSQL transaction."""

    tables = LedgerTables(POSTGRES)

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events"):
        self._ping_all = tune(datastore)  # before the base class opens its first connection
        super().__init__(datastore, events_table_name=events_table_name)
        self._insert_arrays = self._insert_arrays_statement()
        self._select_notifications = (
            SQL(
                "SELECT notification_id, originator_id, originator_version, topic, state FROM {}.{}"
            )
            .format(Identifier(self.datastore.schema), Identifier(self.events_table_name))
            .as_string(None)
            .encode()
        )
        self._table_columns: dict[str, list[str]] = {}

    # -- writes -------------------------------------------------------------

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        with store_errors():
            ids: list[int] = self._insert_in_pieces(stored_events, kwargs.get("ledger_rows"))
            return ids

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def _insert_in_pieces(
        self, stored_events: Sequence[StoredEvent], rows: LedgerRows | None
    ) -> list[int]:
        try:
            return self._insert(stored_events, rows)
        except (InterfaceError, OperationalError):
            self._ping_all()  # the server may have restarted: ping before the retry
            raise

    def _insert(self, stored_events: Sequence[StoredEvent], rows: LedgerRows | None) -> list[int]:
        ids: list[int] = []
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            if rows:
                self._write_rows(curs, rows)
            if stored_events:
                self._lock_table(curs)  # insert order = commit order, as the library does
                self._notify_channel(curs)
                for piece in _pieces(stored_events):
                    curs.execute(self._insert_arrays, self._columns_of(piece))
                    ids.extend(row["notification_id"] for row in curs.fetchall())
                journal.record(self, curs, ids, stored_events)  # the chain, same transaction
        return ids

    def _insert_arrays_statement(self) -> Composed:
        """The events' INSERT with one binary array parameter per column (much
        cheaper to send than the library's array of composites)."""
        return SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::{}[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(
            Identifier(self.datastore.schema),
            Identifier(self.events_table_name),
            Identifier(self.datastore.originator_id_type),
        )

    def _columns_of(self, events: Sequence[StoredEvent]) -> list[list[Any]]:
        as_uuid = self.datastore.originator_id_type == "uuid"
        return [
            [
                (e.originator_id if isinstance(e.originator_id, UUID) else UUID(e.originator_id))
                if as_uuid
                else str(e.originator_id)
                for e in events
            ],
            [e.originator_version for e in events],
            [e.topic for e in events],
            [e.state for e in events],
        ]

    def _write_rows(self, curs: Cursor[DictRow], rows: LedgerRows) -> None:
        """Each (statement, rows) of `LedgerTables.writes`, without executemany
        (which pipelines), in statements of at most ROWS_PER_STATEMENT rows:
        inserts as one array parameter per column, unnested (an upsert's rows
        in rounds in which no key repeats, so a key's rows still apply in
        order; a short statement psycopg parses once), deletes by key as
        `(key) IN (VALUES ...)`, anything else row by row."""
        for statement, params in self.tables.writes(rows):
            safe = [_safe_row(row) for row in params]
            insert, delete = _VALUES.match(statement), _DELETE.match(statement)
            if insert is not None:
                table, tail = insert.group(1).split()[2], insert.group(3)
                for round_ in self._rounds(curs, statement, safe):
                    for chunk in _chunks(round_):
                        sql, arrays = self._unnest(curs, table, tail, chunk)
                        curs.execute(sql.encode(), arrays)
            elif delete is not None:
                table, columns = delete.group(1), _KEY_EQ.findall(delete.group(2))
                marks = "(" + ", ".join(["%s"] * len(columns)) + ")"
                for chunk in _chunks(safe):
                    sql = (
                        f"DELETE FROM {table} WHERE ({', '.join(columns)}) IN "
                        f"(VALUES {', '.join([marks] * len(chunk))})"
                    )
                    curs.execute(sql.encode(), [v for row in chunk for v in row])
            else:
                for row in safe:
                    curs.execute(statement.encode(), row)

    def _rounds(
        self, curs: Cursor[DictRow], statement: str, rows: list[list[Any]]
    ) -> list[list[list[Any]]]:
        conflict = _CONFLICT_UPDATE.search(statement)
        if conflict is None:
            return [rows]  # a plain insert or DO NOTHING: repeats are harmless
        table = statement.split()[2]
        columns = self._columns(curs, table)
        at = [columns.index(c.strip()) for c in conflict.group(1).split(",")]
        rounds: list[list[list[Any]]] = []
        seen: dict[tuple[Any, ...], int] = {}
        for row in rows:
            key = tuple(row[i] for i in at)
            n = seen[key] = seen.get(key, -1) + 1
            if n == len(rounds):
                rounds.append([])
            rounds[n].append(row)
        return rounds

    def _unnest(
        self, curs: Cursor[DictRow], table: str, tail: str, rows: list[list[Any]]
    ) -> tuple[str, list[list[Any]]]:
        """`INSERT INTO table SELECT * FROM unnest(one array per column) tail`."""
        types = self._column_types(curs, table)[: len(rows[0])]
        arrays = ", ".join(f"%b::{t}[]" for t in types)  # binary: text arrays cost 8x
        sql = f"INSERT INTO {table} SELECT * FROM unnest({arrays}){tail}"
        return sql, [list(column) for column in zip(*rows, strict=True)]

    def _column_types(self, curs: Cursor[DictRow], table: str) -> list[str]:
        key = f"types:{table}"
        if key not in self._table_columns:
            curs.execute(
                "SELECT format_type(atttypid, atttypmod) AS t FROM pg_attribute "
                "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped "
                "ORDER BY attnum",
                [table],
            )
            self._table_columns[key] = [row["t"] for row in curs.fetchall()]
        return self._table_columns[key]

    def _columns(self, curs: Cursor[DictRow], table: str) -> list[str]:
        if table not in self._table_columns:
            curs.execute(
                "SELECT attname FROM pg_attribute WHERE attrelid = %s::regclass "
                "AND attnum > 0 AND NOT attisdropped ORDER BY attnum",
                [table],
            )
            self._table_columns[table] = [row["attname"] for row in curs.fetchall()]
        return self._table_columns[table]

    # -- reads ----------------------------------------------------------------

    def fetch(
        self, statement: str, params: Sequence[Any], *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """A side-table read (`binary`: in the binary format, for columns whose
        Python values do not depend on it, as the events'); retried once on a
        broken connection."""
        return self._read(lambda: self._fetch(statement, params, binary))

    def _read(self, read: Callable[[], R]) -> R:
        """Run a read, once more on a broken connection: a read is idempotent,
        the pool has dropped the connection that broke, and every connection
        is pinged again before its next use (the server may have restarted)."""
        with store_errors():
            try:
                return read()
            except (InterfaceError, OperationalError) as exc:
                if isinstance(exc.__cause__, PoolTimeout):
                    raise  # no connection to be had: waiting again would not help
                self._ping_all()
                return read()

    @contextmanager
    def snapshot(self) -> Iterator[PostgresSnapshot]:
        """A read-only REPEATABLE READ transaction (psledger.store.snapshot),
        begun once more on a broken connection (as `fetch` is)."""
        with store_errors(), contextlib.ExitStack() as held:
            reads = self._read(lambda: self._begin_snapshot(held))
            try:
                yield reads
            finally:
                reads.close()

    def _begin_snapshot(self, held: contextlib.ExitStack) -> PostgresSnapshot:
        with contextlib.ExitStack() as attempt:
            conn = attempt.enter_context(self.datastore.get_connection())
            attempt.enter_context(conn.transaction())
            conn.execute(b"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            held.push(attempt.pop_all())  # begun: held until the snapshot ends
            return PostgresSnapshot(conn)
        raise AssertionError("unreachable")  # pragma: no cover - for mypy

    def _fetch(
        self, statement: str, params: Sequence[Any], binary: bool = False
    ) -> list[tuple[Any, ...]]:
        with self.datastore.get_connection() as conn:
            return _fetch_rows(conn, statement, params, binary)

    def select_events(
        self,
        originator_id: UUID | str,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        select = super().select_events
        return self._read(lambda: select(originator_id, gt=gt, lte=lte, desc=desc, limit=limit))

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        tail, params = page_query(POSTGRES_PAGES, start, limit, stop, topics, inclusive_of_start)
        statement = self._select_notifications + tail.encode()

        def read() -> list[Notification]:
            with (
                self.datastore.get_connection() as conn,
                conn.cursor(row_factory=tuple_row, binary=True) as curs,
            ):
                curs.execute(statement, params, prepare=True)
                return [
                    notification(n, o, v, t, s if type(s) is bytes else bytes(s))
                    for n, o, v, t, s in curs.fetchall()
                ]

        return self._read(read)

    def max_notification_id(self) -> int | None:
        with store_errors():
            top: int | None = super().max_notification_id()
            return top

    # -- schema -----------------------------------------------------------------

    @contextmanager
    def schema_session(self) -> Iterator[PostgresSchemaSession]:
        with self.datastore.get_connection() as conn:
            yield PostgresSchemaSession(self, conn)


def _chunks(rows: list[list[Any]]) -> Iterator[list[list[Any]]]:
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        yield rows[start : start + ROWS_PER_STATEMENT]


def _pieces(events: Sequence[StoredEvent]) -> Iterator[Sequence[StoredEvent]]:
    start, size = 0, 0
    for i, event in enumerate(events):
        if i > start and (i - start >= EVENTS_PER_STATEMENT or size >= BYTES_PER_STATEMENT):
            yield events[start:i]
            start, size = i, 0
        size += len(event.state) + len(event.topic) + 64
    if start < len(events):
        yield events[start:]


class _Cursor:
    """A migration's cursor: tuples, NUL-safe text, CREATE TYPE tolerated."""

    def __init__(self, conn: Connection[Any], cursor: Cursor[Any]) -> None:
        self.conn, self.c = conn, cursor

    def execute(self, statement: Any, params: Sequence[Any] = ()) -> None:
        query = statement.encode() if isinstance(statement, str) else statement
        self.c.execute(query, _safe_row(params))

    def executemany(self, statement: Any, rows: Sequence[Sequence[Any]]) -> None:
        for row in rows:
            self.execute(statement, row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self.c.fetchall())

    def ddl(self, statement: Any) -> None:
        text = statement.as_string(self.conn) if isinstance(statement, Composable) else statement
        if not text.lstrip().upper().startswith("CREATE TYPE"):
            self.execute(statement)
            return
        # CREATE TYPE has no IF NOT EXISTS: a store from before the migrations has it
        with contextlib.suppress(psycopg.errors.DuplicateObject), self.conn.transaction():
            self.execute(statement)


class PostgresSchemaSession:
    """Migrations on PostgreSQL: a session advisory lock around the upgrade,
    each migration in its own transaction on the same connection."""

    dialect = POSTGRES

    def __init__(self, recorder: LedgerPostgresRecorder, conn: Connection[Any]) -> None:
        self.recorder, self.conn = recorder, conn

    def library_statements(self) -> list[Any]:
        return list(self.recorder.sql_create_statements)

    def notifications_statement(self) -> Any:
        return SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state "
            "FROM {}.{} WHERE notification_id > %s ORDER BY notification_id LIMIT %s"
        ).format(
            Identifier(self.recorder.datastore.schema),
            Identifier(self.recorder.events_table_name),
        )

    def read(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self.conn.cursor(row_factory=tuple_row) as c:
            c.execute(statement.encode(), list(params))
            return c.fetchall()

    def has_version_table(self) -> bool:
        from psledger.store.schema import VERSION_TABLE

        found = self.read(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = %s",
            [self.recorder.datastore.schema, VERSION_TABLE],
        )
        return bool(found)

    @contextmanager
    def exclusive(self, wait_seconds: float) -> Iterator[None]:
        deadline = time.monotonic() + wait_seconds
        while not self.read("SELECT pg_try_advisory_lock(%s)", [SCHEMA_LOCK_KEY])[0][0]:
            if time.monotonic() > deadline:
                raise StoreUnavailable(
                    f"another process has been upgrading the schema for {wait_seconds:.0f} s; "
                    "try again"
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            with contextlib.suppress(psycopg.Error):
                self.read("SELECT pg_advisory_unlock(%s)", [SCHEMA_LOCK_KEY])

    @contextmanager
    def transaction(self, wait_seconds: float) -> Iterator[_Cursor]:
        with self.conn.transaction(), self.conn.cursor(row_factory=tuple_row) as c:
            yield _Cursor(self.conn, c)

    def after_upgrade(self) -> None:
        self.recorder.datastore.register_type_adapters()


class PostgresSnapshot(snapshot.Streams):
    """Statements on one connection inside one REPEATABLE READ transaction.
    A stream's rows come in chunks of `FETCH_ROWS` as the server sends them
    (libpq's chunked rows, from libpq 17: one round trip for the statement);
    with an older libpq, through a server-side cursor (a round trip a batch).
    Either way the client holds a chunk."""

    def __init__(self, connection: Connection[Any]) -> None:
        super().__init__()
        self.connection = connection
        self._cursors = 0

    def _fetch(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return _fetch_rows(self.connection, statement, params)

    def _rows(
        self, statement: str, params: Sequence[Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        if CHUNKED_ROWS:  # left part read, psycopg cancels the statement
            with self.connection.cursor(row_factory=tuple_row) as c:
                yield from c.stream(statement.encode(), _safe_row(params), size=snapshot.FETCH_ROWS)
            return
        self._cursors += 1
        name = f"psledger_snapshot_{self._cursors}"
        with self.connection.cursor(name, row_factory=tuple_row) as c:
            c.itersize = snapshot.FETCH_ROWS
            c.execute(statement.encode(), _safe_row(params))
            yield from c
