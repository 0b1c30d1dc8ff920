"""The event store's schema, as an ordered list of numbered migrations.

Nothing creates tables at start-up any more: `bootstrap()` compares the
store's version (table ``psledger_schema_version``) with the last one here
and runs what is missing; ``psledger db upgrade`` does the same and says what
it applied, ``psledger db status`` shows both numbers. The runner
(`psledger.store.schema`) holds a lock while it works (PostgreSQL: a session
advisory lock around the whole upgrade; SQLite: ``BEGIN IMMEDIATE``), runs
each migration in its own transaction together with its version row, and
skips the versions already recorded, so any number of processes may start
at once and each migration runs exactly once.

Appending a migration
---------------------
Add one `Migration` at the end of `MIGRATIONS` with the next number. Never
edit or renumber one that has shipped: stores out there have recorded it.

    Migration(
        N,  # the last one's number + 1
        "parked rows name their targets",
        sql=["ALTER TABLE psledger_parked ADD COLUMN targets TEXT"],
    ),
    Migration(
        N + 1,
        "totals per contract",
        sql=["CREATE TABLE psledger_totals (contract TEXT PRIMARY KEY, n {bigint} NOT NULL)"],
        python=fill_totals,  # def fill_totals(ctx: MigrationContext) -> None
    ),

- `sql` runs on both dialects; ``{blob}`` (BLOB / BYTEA) and ``{bigint}``
  (INTEGER / BIGINT) are filled in per dialect (write ``{{`` and ``}}`` for
  literal braces). `sqlite` and `postgres` hold statements for one dialect
  only; they run after `sql`.
- `python` runs last, in the same transaction, with a `MigrationContext`:
  ``ctx.dialect.name`` ("sqlite" / "postgres"), ``ctx.p`` (the placeholder),
  ``ctx.execute(sql, params)``, ``ctx.executemany(sql, rows)``,
  ``ctx.fetchall(sql, params)``, ``ctx.notifications()`` (every stored event
  in order, read in pages through the same transaction) and
  ``ctx.domain_events()`` (the same, decoded with the application's mapper).
  A step that fails rolls its migration back; the next start retries it.
- `backfill` is for work too long for one transaction: it runs after the
  migration's statements have committed, with the recorder, and does its
  own bounded transactions; the version is recorded only when it returns.
  It must be resumable (a crash means it runs again from where the data
  says it stopped), and the statements before it idempotent (IF NOT
  EXISTS), since they run again too. On PostgreSQL the upgrade lock is held
  throughout; on SQLite concurrent upgraders may run it side by side.
- Test it: tests/integration/store/test_migrations.py upgrades a fresh store
  and an old one on both dialects.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from projections.read.tables import ITEM_LISTING_INDEX, VIEW_DDL
from psledger.store import item_index
from psledger.store.journal import JOURNAL_DDL, backfill_journal
from psledger.store.tables import Dialect

if TYPE_CHECKING:
    from psledger.store.schema import MigrationContext


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: Sequence[str] = ()  # both dialects, with {blob} and {bigint}
    sqlite: Sequence[str] = ()
    postgres: Sequence[str] = ()
    python: Callable[[MigrationContext], None] | None = None
    backfill: Callable[[Any], None] | None = None  # (recorder), after the commit
    library: bool = False  # eventsourcing's own tables first (migration 1)

    def statements(self, dialect: Dialect) -> list[str]:
        own = self.sqlite if dialect.name == "sqlite" else self.postgres
        shared = [s.format(blob=dialect.blob, bigint=dialect.bigint) for s in self.sql]
        return [*shared, *own]


# The side tables as the code before migrations created them at every start
# (IF NOT EXISTS: an existing store of that code upgrades to version 1 as is).
_SIDE_TABLES_V1 = [
    "CREATE TABLE IF NOT EXISTS psledger_dedup ("
    "key TEXT PRIMARY KEY, result TEXT NOT NULL, recorded_at TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS psledger_entities ("
    "kind TEXT NOT NULL, business_id TEXT NOT NULL, parent_id TEXT, "
    "PRIMARY KEY (kind, business_id))",
    "CREATE INDEX IF NOT EXISTS psledger_entities_parent ON psledger_entities (kind, parent_id)",
    "CREATE TABLE IF NOT EXISTS psledger_quarantine ("
    "id TEXT PRIMARY KEY, source TEXT NOT NULL, part {bigint} NOT NULL, "
    "position {bigint} NOT NULL, record_key TEXT, raw {blob} NOT NULL, "
    "reason TEXT NOT NULL, detail TEXT NOT NULL, created_at TEXT NOT NULL, "
    "status TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS psledger_parked ("
    "id TEXT PRIMARY KEY, waits_for TEXT NOT NULL, source TEXT NOT NULL, "
    "part {bigint} NOT NULL, position {bigint} NOT NULL, raw {blob} NOT NULL, "
    "reason TEXT NOT NULL, parked_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS psledger_parked_waits ON psledger_parked (waits_for)",
    "CREATE TABLE IF NOT EXISTS psledger_positions ("
    "source TEXT NOT NULL, part {bigint} NOT NULL, position {bigint} NOT NULL, "
    "PRIMARY KEY (source, part))",
]

MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "event store and side tables",
        library=True,  # eventsourcing's stored events table, type, index, function
        sql=_SIDE_TABLES_V1,
    ),
    Migration(
        2,
        "staged pieces of incomplete source transactions",
        sql=[
            # IF NOT EXISTS: stores created while this table came with the
            # start-up DDL already have it
            "CREATE TABLE IF NOT EXISTS psledger_staged ("
            "source TEXT NOT NULL, part {bigint} NOT NULL, position {bigint} NOT NULL, "
            "tx_id TEXT NOT NULL, raw {blob} NOT NULL, staged_at TEXT NOT NULL, "
            "PRIMARY KEY (source, part, position))",
            "CREATE INDEX IF NOT EXISTS psledger_staged_tx ON psledger_staged (tx_id)",
        ],
    ),
    Migration(
        3,
        "audit journal: a chain hash per stored event (psledger.store.journal)",
        sql=JOURNAL_DDL,
        backfill=backfill_journal,  # chains the events stored before, in bounded pages
    ),
    Migration(
        4,
        "source order: the newest source position (LSN) applied per entity",
        sql=[
            "CREATE TABLE IF NOT EXISTS psledger_source_order ("
            "entity TEXT PRIMARY KEY, lsn {bigint} NOT NULL)",
        ],
    ),
    Migration(
        5,
        "ERP outbox: each issued document's payload, written with its events",
        sql=[
            "CREATE TABLE IF NOT EXISTS psledger_outbox ("
            "number TEXT PRIMARY KEY, payload {blob} NOT NULL, created_at TEXT NOT NULL, "
            "sent_at TEXT)",
            "CREATE INDEX IF NOT EXISTS psledger_outbox_unsent "
            "ON psledger_outbox (sent_at, created_at)",
        ],
    ),
    Migration(
        6,
        "parked rows name the entities their changes touch (billing holds those items)",
        sqlite=["ALTER TABLE psledger_parked ADD COLUMN targets TEXT"],
        postgres=["ALTER TABLE psledger_parked ADD COLUMN IF NOT EXISTS targets TEXT"],
    ),
    Migration(
        7,
        "read side: materialised views and their tracking (projections/read/tables.py)",
        sql=VIEW_DDL,  # views are rebuilt from the events: `psledger projections rebuild`
    ),
    Migration(
        8,
        "billing state index: each item's state and project, each project's contract",
        sql=item_index.DDL,
        python=item_index.backfill,  # a row for every item and project already stored
    ),
    Migration(
        9,
        "items view: an index in the listing's order that holds what the table shows",
        sqlite=[ITEM_LISTING_INDEX["sqlite"]],
        postgres=[ITEM_LISTING_INDEX["postgres"]],
    ),
]


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    return max((m.version for m in migrations), default=0)


def check(migrations: Sequence[Migration] = MIGRATIONS) -> None:
    """Versions are 1, 2, 3, ... in order (a mistake when appending fails fast)."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise AssertionError(
                f"migration {migration.name!r} has version {migration.version}, expected {expected}"
            )


check()
