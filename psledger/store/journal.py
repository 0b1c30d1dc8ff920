"""The tamper-evident journal: one chain hash per stored event.

    chain(N) = SHA-256(chain(P) || N || originator id || version || topic || state)

where N is the event's notification id (its position), P the position of the
event before it (the genesis hash, 32 zero bytes, for the first) and the
fields are the stored bytes, each length-prefixed (see `chain_hash`). The
table `psledger_journal(notification_id, chain_hash)` is written by the
recorders in the same transaction as the events, in notification-id order
(`record`); the PostgreSQL recorder holds its EXCLUSIVE lock on the events
table by then, and SQLite has one writer at a time, so writers extend the
chain one after another. A PostgreSQL writer remembers the head it wrote
last and hashes its next batch on from it, in one statement that inserts
only while the chain still ends there (else it reads the head and hashes
again): a writer alone pays one round trip per batch for the chain.

The journal is always a prefix of the events: a store created before the
chain existed, or events written while journalling was off, leave a tail of
unchained events. A writer chains a short tail itself (up to `CATCH_UP`
events); a longer one is left to `backfill` (the `psledger db upgrade`
migration for a store from before the journal, `psledger audit backfill`
for a tail left later), which chains it in bounded, resumable transactions.
Until then writers do not extend the chain, and `psledger audit verify`
names the first unchained position.

No database driver is imported at module level: the recorders hand in their
cursors (the SQL is in psledger/store/journal_sql.py, the hash in
psledger/store/journal_chain.py).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent

from psledger.store.journal_chain import (
    GENESIS,
    ChainReader,
    canonical_originator,
    chain_entries,
    chain_hash,
)
from psledger.store.journal_sql import (
    JOURNAL_DDL,
    MAX_POSITION,
    EventRow,
    dialect_of,
    event_row,
    row_tuple,
)
from psledger.store.journal_store import (
    JournalStore,
    backfill_journal,
    insert_entries,
    upgrade,
)

CATCH_UP = 1000
NO_JOURNAL_ENV = "PSLEDGER_BENCH_NO_JOURNAL"  # only tools/bench_journal.py sets it

__all__ = [
    "GENESIS",
    "JOURNAL_DDL",
    "MAX_POSITION",
    "ChainReader",
    "EventRow",
    "JournalStore",
    "backfill_journal",
    "canonical_originator",
    "chain_hash",
    "record",
    "upgrade",
]

log = logging.getLogger(__name__)


# -- the write path ------------------------------------------------------------

_active: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()
# The chain's head after each recorder's last write (PostgreSQL): the next
# write hashes on from it and inserts only if the chain still ends there,
# so a writer alone costs one statement per batch, not two.
_heads: weakref.WeakKeyDictionary[Any, tuple[int, bytes]] = weakref.WeakKeyDictionary()
FAST_MAX = 5000


def record(
    recorder: Any,
    cursor: Any,
    notification_ids: Sequence[int] | None,
    stored_events: Sequence[StoredEvent],
) -> None:
    """Extend the chain over a batch just inserted, in the batch's transaction.

    Called by the recorders with their own cursor once the batch's
    notification ids are known. Does nothing before the journal table exists
    (a store not yet upgraded), or while a long unchained tail waits for the
    backfill.
    """
    if not stored_events or not notification_ids or os.environ.get(NO_JOURNAL_ENV):
        return
    sql = dialect_of(recorder)
    if not _active.get(recorder):
        cursor.execute(sql.exists())
        if not int(row_tuple(cursor.fetchone())[0]):
            return
        _active[recorder] = True
    batch = sorted(zip(notification_ids, stored_events, strict=True), key=lambda p: p[0])
    first = batch[0][0]
    head = _heads.pop(recorder, None)
    if head is not None and sql.name != "sqlite" and len(batch) <= FAST_MAX:
        fast = _chained(head[1], batch)
        cursor.execute(
            sql.insert_after_head(),
            [[r[0] for r in fast], [r[1] for r in fast], head[0], head[0], head[1], head[0], first],
        )
        if cursor.rowcount == len(fast):
            _heads[recorder] = fast[-1]
            return
    cursor.execute(sql.head_and_tail(), [first, CATCH_UP + 1])
    head_id, head_hash, unchained = row_tuple(cursor.fetchone())
    previous = GENESIS if head_hash is None else bytes(head_hash)
    rows: list[tuple[int, bytes]] = []
    if unchained:
        if unchained > CATCH_UP:
            log.warning(
                "journal: more than %d events before position %d are not chained; "
                "run `psledger audit backfill` to chain them",
                CATCH_UP,
                first,
            )
            return
        cursor.execute(sql.events_between(limit=False), [head_id or 0, first])
        rows = chain_entries(previous, map(event_row, cursor.fetchall()))
        previous = rows[-1][1] if rows else previous
    rows += _chained(previous, batch)
    insert_entries(sql, cursor, rows)
    if sql.name != "sqlite":
        _heads[recorder] = rows[-1]


def _chained(previous: bytes, batch: list[tuple[int, StoredEvent]]) -> list[tuple[int, bytes]]:
    """The chain entries of a batch, in position order, after `previous`."""
    return chain_entries(
        previous,
        ((n, e.originator_id, e.originator_version, e.topic, e.state) for n, e in batch),
    )
