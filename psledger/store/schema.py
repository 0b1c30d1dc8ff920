"""Runs the migrations of `psledger.store.migrations` against a store.

    ensure_schema(app)   at start-up: one query when the store is current,
                         else `upgrade`
    upgrade(app)         under the lock, each missing migration in its own
                         transaction with its version row; returns what it ran
    status(app)          the store's version, the latest, what is pending

The recorders (psledger.store.sqlite, psledger.store.postgres) supply a
`SchemaSession`: the dialect's lock, transactions and eventsourcing's own
DDL. No driver is imported here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from eventsourcing.application import Application
from eventsourcing.persistence import Mapper, Notification, PersistenceError

from domain.errors import InfrastructureError, LedgerError
from psledger.store.errors import scrub, store_errors
from psledger.store.migrations import MIGRATIONS, Migration, latest_version
from psledger.store.tables import Dialect

VERSION_TABLE = "psledger_schema_version"
LOCK_WAIT_SECONDS = 600.0


class SchemaCursor(Protocol):
    """A cursor inside one migration's transaction (tuples, this dialect's placeholder)."""

    def execute(self, statement: Any, params: Sequence[Any] = ()) -> None: ...

    def executemany(self, statement: Any, rows: Sequence[Sequence[Any]]) -> None: ...

    def fetchall(self) -> list[tuple[Any, ...]]: ...

    def ddl(self, statement: Any) -> None:
        """Run one schema statement (an existing type is not an error)."""


class SchemaSession(Protocol):
    dialect: Dialect

    def library_statements(self) -> list[Any]:
        """eventsourcing's own DDL for the recorder's tables, as the recorder has it."""

    def notifications_statement(self) -> Any:
        """SELECT id, originator_id, version, topic, state after %s, LIMIT %s."""

    def has_version_table(self) -> bool: ...

    def exclusive(self, wait_seconds: float) -> AbstractContextManager[None]:
        """Held around a whole upgrade (a no-op where `transaction` locks)."""

    def transaction(self, wait_seconds: float) -> AbstractContextManager[SchemaCursor]:
        """One write transaction that excludes other upgraders."""

    def read(self, statement: str) -> list[tuple[Any, ...]]:
        """A query outside any transaction."""

    def after_upgrade(self) -> None:
        """Refresh what the recorder learnt from the schema (type adapters)."""


@dataclass
class MigrationContext:
    """What a migration's Python step gets (see the migrations docstring)."""

    cursor: SchemaCursor
    session: SchemaSession
    recorder: Any
    mapper: Mapper[Any] | None

    @property
    def dialect(self) -> Dialect:
        return self.session.dialect

    @property
    def p(self) -> str:
        return self.session.dialect.placeholder

    def execute(self, statement: str, params: Sequence[Any] = ()) -> None:
        self.cursor.execute(statement, params)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        self.cursor.executemany(statement, rows)

    def fetchall(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.cursor.execute(statement, params)
        return self.cursor.fetchall()

    def notifications(self, page: int = 1000) -> Iterator[Notification]:
        """Every stored event in notification order, read in pages."""
        after = 0
        statement = self.session.notifications_statement()
        while True:
            self.cursor.execute(statement, [after, page])
            rows = self.cursor.fetchall()
            for nid, oid, version, topic, state in rows:
                yield Notification(
                    id=int(nid),
                    originator_id=self.recorder.convert_originator_id(oid)
                    if isinstance(oid, str)
                    else oid,
                    originator_version=int(version),
                    topic=str(topic),
                    state=bytes(state),
                )
            if len(rows) < page:
                return
            after = int(rows[-1][0])

    def domain_events(self, page: int = 1000) -> Iterator[Any]:
        if self.mapper is None:
            raise InfrastructureError("this migration needs the application's mapper")
        for notification in self.notifications(page):
            yield self.mapper.to_domain_event(notification)


@dataclass(frozen=True)
class Status:
    current: int
    latest: int
    pending: list[Migration]
    applied: list[tuple[int, str, str]]  # version, name, applied_at


def _session(recorder: Any) -> AbstractContextManager[SchemaSession]:
    opener = getattr(recorder, "schema_session", None)
    if opener is None:
        raise InfrastructureError(f"{type(recorder).__name__} cannot run migrations")
    return opener()  # type: ignore[no-any-return]


def _applied(session: SchemaSession) -> list[tuple[int, str, str]]:
    if not session.has_version_table():
        return []
    rows = session.read(f"SELECT version, name, applied_at FROM {VERSION_TABLE} ORDER BY version")
    return [(int(v), str(n), str(a)) for v, n, a in rows]


def status(app: Application[Any], migrations: Sequence[Migration] = MIGRATIONS) -> Status:
    with store_errors(), _session(app.recorder) as session:
        applied = _applied(session)
    done = {v for v, _, _ in applied}
    return Status(
        current=max(done, default=0),
        latest=latest_version(migrations),
        pending=[m for m in migrations if m.version not in done],
        applied=applied,
    )


def ensure_schema(app: Application[Any], migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Upgrade the store if it lacks a migration (bootstrap calls this)."""
    if status(app, migrations).pending:
        upgrade(app, migrations)


def upgrade(
    app: Application[Any],
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    wait_seconds: float = LOCK_WAIT_SECONDS,
) -> list[Migration]:
    """Apply the missing migrations in order; those it applied (none if another
    process got there first)."""
    ran: list[Migration] = []
    with store_errors(), _session(app.recorder) as session:
        if not [m for m in migrations if m.version not in {v for v, *_ in _applied(session)}]:
            return ran
        with session.exclusive(wait_seconds):
            for migration in migrations:
                try:
                    if _apply(session, migration, app, wait_seconds):
                        ran.append(migration)
                except (LedgerError, PersistenceError):
                    raise
                except Exception as exc:
                    detail = scrub(str(exc)) or type(exc).__name__
                    raise InfrastructureError(
                        f"schema migration {migration.version} ({migration.name}) failed: {detail}"
                    ) from exc
        session.after_upgrade()
    return ran


def _apply(
    session: SchemaSession, migration: Migration, app: Application[Any], wait_seconds: float
) -> bool:
    p = session.dialect.placeholder
    with session.transaction(wait_seconds) as cursor:
        cursor.ddl(
            f"CREATE TABLE IF NOT EXISTS {VERSION_TABLE} ("
            "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        cursor.execute(f"SELECT 1 FROM {VERSION_TABLE} WHERE version = {p}", [migration.version])
        if cursor.fetchall():
            return False  # another process applied it while we waited for the lock
        statements = [*(session.library_statements() if migration.library else ())]
        for statement in [*statements, *migration.statements(session.dialect)]:
            cursor.ddl(statement)
        if migration.python is not None:
            migration.python(MigrationContext(cursor, session, app.recorder, app.mapper))
        if migration.backfill is None:
            _record(cursor, migration, p)
            return True
    migration.backfill(app.recorder)
    with session.transaction(wait_seconds) as cursor:
        _record(cursor, migration, p)
    return True


def _record(cursor: SchemaCursor, migration: Migration, p: str) -> None:
    cursor.execute(
        f"INSERT INTO {VERSION_TABLE} (version, name, applied_at) VALUES ({p}, {p}, {p}) "
        "ON CONFLICT (version) DO NOTHING",
        [migration.version, migration.name, datetime.now(UTC).isoformat()],
    )
