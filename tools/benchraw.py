"""The raw references for tools/bench.py: the event store's own table, read
and written with the bare driver, without psledger or eventsourcing.

- `copy_reference`: the rows written into a scratch table with the columns
  and keys of eventsourcing's `stored_events`; on PostgreSQL with
  `COPY ... FROM STDIN (FORMAT BINARY)` (psycopg 3, `set_types` and
  `write_row`), on SQLite with `executemany` in one transaction.
- `select_pages`: every stored event read back with a plain keyset `SELECT`,
  in pages of the size the replay path uses.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import psycopg

from psledger.settings import store_environment

SCRATCH = "bench_copy_scratch"
Row = tuple[Any, Any, Any, Any]  # originator_id, originator_version, topic, state

PG_SCRATCH_DDL = (
    f"CREATE TABLE {SCRATCH} ("
    "originator_id uuid NOT NULL, originator_version bigint NOT NULL, topic text, "
    "state bytea, notification_id bigserial, "
    "PRIMARY KEY (originator_id, originator_version))",
    f"CREATE UNIQUE INDEX {SCRATCH}_nid ON {SCRATCH} (notification_id)",
)
SQLITE_SCRATCH_DDL = (
    f"CREATE TABLE {SCRATCH} ("
    "originator_id TEXT, originator_version INTEGER, topic TEXT, state BLOB, "
    "PRIMARY KEY (originator_id, originator_version))",
)


class RawStore:
    """The store named by a psledger store URL, through its bare driver."""

    def __init__(self, url: str, table: str = "stored_events") -> None:
        self.url = url
        self.env = store_environment(url)
        self.table = table  # eventsourcing's: stored_events (SQLite), psledger_events (PG)
        self.kind = "sqlite" if self.env["PERSISTENCE_MODULE"].endswith("sqlite") else "postgresql"
        self.nid = "rowid" if self.kind == "sqlite" else "notification_id"
        self.mark = "?" if self.kind == "sqlite" else "%s"

    @contextmanager
    def connect(self) -> Iterator[Any]:
        if self.kind == "sqlite":
            conn: Any = sqlite3.connect(self.env["SQLITE_DBNAME"], isolation_level=None)
        else:
            conn = psycopg.connect(
                host=self.env["POSTGRES_HOST"],
                port=self.env["POSTGRES_PORT"],
                dbname=self.env["POSTGRES_DBNAME"],
                user=self.env["POSTGRES_USER"],
                password=self.env["POSTGRES_PASSWORD"] or None,
                autocommit=True,
            )
        try:
            yield conn
        finally:
            conn.close()

    def _one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.connect() as conn:
            row = conn.execute(sql, params).fetchone()
            return None if row is None else row[0]

    def has_events_table(self) -> bool:
        if self.kind == "sqlite":
            found = self._one("SELECT name FROM sqlite_master WHERE name = ?", (self.table,))
        else:
            found = self._one("SELECT to_regclass(%s)", (self.table,))
        return found is not None

    def count_events(self) -> int:
        if not self.has_events_table():
            return 0
        return int(self._one(f"SELECT count(*) FROM {self.table}"))

    def max_id(self) -> int:
        return int(self._one(f"SELECT coalesce(max({self.nid}), 0) FROM {self.table}"))

    def rows_after(self, after_id: int) -> list[Row]:
        """The stored events after a notification id, as the driver returns them."""
        with self.connect() as conn:
            cur = conn.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {self.table} "
                f"WHERE {self.nid} > {self.mark} ORDER BY {self.nid}",
                (after_id,),
            )
            return [tuple(r) for r in cur.fetchall()]  # type: ignore[misc]

    def originator_ids(self) -> list[Any]:
        with self.connect() as conn:
            cur = conn.execute(f"SELECT DISTINCT originator_id FROM {self.table}")
            return [r[0] for r in cur.fetchall()]

    @contextmanager
    def scratch_store(self, work: Path) -> Iterator[str]:
        """The URL of an empty store beside this one, removed afterwards: a
        SQLite file in `work`, or a database created on the same server
        (which needs the CREATEDB privilege)."""
        if self.kind == "sqlite":
            path = work / "bench_scratch.db"
            _remove_sqlite(path)
            try:
                yield f"sqlite:///{path}"
            finally:
                _remove_sqlite(path)
            return
        name = f"bench_scratch_{os.getpid()}"
        with self.connect() as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name}")
            conn.execute(f"CREATE DATABASE {name}")
        try:
            yield urlunsplit(urlsplit(self.url)._replace(path=f"/{name}"))
        finally:
            with self.connect() as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def copy_reference(self, rows: Sequence[Row]) -> float:
        """Write the rows into a fresh scratch table; the seconds it took
        (the write and its commit; creating and dropping the table excluded)."""
        with self.connect() as conn:
            conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")
            ddl = SQLITE_SCRATCH_DDL if self.kind == "sqlite" else PG_SCRATCH_DDL
            for statement in ddl:
                conn.execute(statement)
            try:
                if self.kind == "sqlite":
                    start = time.perf_counter()
                    conn.execute("BEGIN")
                    conn.executemany(
                        f"INSERT INTO {SCRATCH} (originator_id, originator_version, topic, state) "
                        "VALUES (?, ?, ?, ?)",
                        rows,
                    )
                    conn.execute("COMMIT")
                    return time.perf_counter() - start
                start = time.perf_counter()
                with (
                    conn.transaction(),
                    conn.cursor() as cur,
                    cur.copy(
                        f"COPY {SCRATCH} (originator_id, originator_version, topic, state) "
                        "FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.set_types(["uuid", "int8", "text", "bytea"])
                    for row in rows:
                        copy.write_row(row)
                return time.perf_counter() - start
            finally:
                conn.execute(f"DROP TABLE IF EXISTS {SCRATCH}")

    def select_pages(
        self, page_size: int, *, parse: bool = False, binary: bool = False
    ) -> tuple[int, float]:
        """Read every stored event with keyset pages; (rows, seconds). With
        `parse`, each row's state is also parsed by orjson: the least that
        any replay which reads the events' JSON must do. With `binary`
        (PostgreSQL), the rows come in the binary format, as psledger's own
        reads of events take them (psledger/store/postgres.py)."""
        sql = (
            f"SELECT {self.nid}, originator_id, originator_version, topic, state "
            f"FROM {self.table} WHERE {self.nid} > {self.mark} "
            f"ORDER BY {self.nid} LIMIT {int(page_size)}"
        )
        with self.connect() as conn:
            execute = conn.cursor(binary=True).execute if binary else conn.execute
            count, last = 0, 0
            start = time.perf_counter()
            while True:
                page = execute(sql, (last,)).fetchall()
                if not page:
                    break
                if parse:
                    for row in page:
                        orjson.loads(row[4])
                count += len(page)
                last = page[-1][0]
            return count, time.perf_counter() - start


def _remove_sqlite(path: Path) -> None:
    for name in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        name.unlink(missing_ok=True)


def server_cpu(pid: int | None, backends_of: str | None = None) -> float:
    """CPU seconds of a PostgreSQL server so far: the postmaster (with its
    reaped children) and its live processes; with `backends_of`, only the live
    client backends of that database. 0 without a server (SQLite)."""
    if pid is None:
        return 0.0
    ticks = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read().rsplit(")", 1)[1].split()
            if backends_of is not None and int(stat[1]) == pid:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if not f.read().startswith(f"postgres: postgres {backends_of} ".encode()):
                        continue
        except OSError:
            continue
        if int(entry) == pid and backends_of is None:
            ticks += sum(int(x) for x in stat[11:15])  # utime, stime, cutime, cstime
        elif int(stat[1]) == pid:
            ticks += int(stat[11]) + int(stat[12])
    return ticks / os.sysconf("SC_CLK_TCK")
