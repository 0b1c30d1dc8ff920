"""The tamper-evident journal: one chain hash per stored event.

    chain(N) = SHA-256(chain(P) || N || originator id || version || topic || state)

where N is the event's notification id (its position), P the position of the
event before it (the genesis hash, 32 zero bytes, for the first) and the
fields are the stored bytes, each length-prefixed (see `chain_hash`). The
table `psledger_journal(notification_id, chain_hash)` is written by the
recorders in the same transaction as the events, in notification-id order
(`record`); the PostgreSQL recorder holds its EXCLUSIVE lock on the events
table by then, and SQLite has one writer at a time, so writers extend the
chain one after another.

The journal is always a prefix of the events: a store created before the
chain existed, or events written while journalling was off, leave a tail of
unchained events. A writer chains a short tail itself (up to `CATCH_UP`
events); a longer one is left to `backfill` (the `psledger db upgrade`
migration for a store from before the journal, `psledger audit backfill`
for a tail left later), which chains it in bounded, resumable transactions.
Until then writers do not extend the chain, and `psledger audit verify`
names the first unchained position.

No database driver is imported here: the recorders hand in their cursors
(the SQL is in psledger/store/journal_sql.py).
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from itertools import islice
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from psledger.store.journal_sql import (
    JOURNAL_DDL,
    JOURNAL_TABLE,
    MAX_POSITION,
    EventRow,
    JournalSql,
    dialect_of,
    event_row,
    row_tuple,
)

GENESIS = bytes(32)
CATCH_UP = 1000
BACKFILL_PAGE = 5000
NO_JOURNAL_ENV = "PSLEDGER_BENCH_NO_JOURNAL"  # only tools/bench_journal.py sets it

__all__ = [
    "JOURNAL_DDL",
    "MAX_POSITION",
    "ChainReader",
    "EventRow",
    "JournalStore",
    "backfill_journal",
    "chain_hash",
    "record",
]

log = logging.getLogger(__name__)

_HEAD = struct.Struct(">qI")  # notification id, originator id length
_MID = struct.Struct(">qI")  # originator version, topic length
_U64 = struct.Struct(">Q")  # state length


def canonical_originator(originator_id: UUID | str) -> str:
    """The originator id as hashed: a UUID's 32 hex digits (SQLite stores
    that text, PostgreSQL a uuid), any other id exactly as stored."""
    return originator_id.hex if isinstance(originator_id, UUID) else originator_id


def chain_hash(
    previous: bytes,
    notification_id: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
) -> bytes:
    """SHA-256 over the previous chain hash and the event's stored fields,
    each variable-length field prefixed with its length (big-endian)."""
    oid = canonical_originator(originator_id).encode("utf-8")
    top = topic.encode("utf-8")
    return hashlib.sha256(
        b"".join(
            (
                previous,
                _HEAD.pack(notification_id, len(oid)),
                oid,
                _MID.pack(originator_version, len(top)),
                top,
                _U64.pack(len(state)),
                state,
            )
        )
    ).digest()


class ChainReader:
    """`chain_hash` over events as read back for verification: tuples of
    (position, originator id bytes, version, topic bytes, state, chain entry),
    one struct per (id length, topic length) kept for the run, and no other
    per-event object than the hash."""

    def __init__(self) -> None:
        self._packs: dict[tuple[int, int], Callable[..., bytes]] = {}

    def _pack(self, lo: int, lt: int) -> Callable[..., bytes]:
        pack = self._packs[lo, lt] = struct.Struct(f">32sqI{lo}sqI{lt}sQ").pack
        return pack

    def hash(self, previous: bytes, row: Sequence[Any]) -> bytes:
        """The chain hash of one row after `previous` (32 bytes)."""
        n, oid, version, topic, state = row[:5]
        pack = self._packs.get((len(oid), len(topic))) or self._pack(len(oid), len(topic))
        h = hashlib.sha256(pack(previous, n, len(oid), oid, version, len(topic), topic, len(state)))
        h.update(state)
        return h.digest()

    def extend(
        self, previous: bytes, rows: Sequence[Sequence[Any]], start: int, until: int
    ) -> tuple[bytes, int]:
        """Recompute the chain from `previous` (32 bytes) over rows[start:]
        while each row's stored entry matches, stopping after the first row
        at or past position `until`. Returns the chain value after the last
        matching row and the index after it: at the end of `rows`, at a row
        that does not match (or has no entry), or just past `until`."""
        packs, make, sha256 = self._packs, self._pack, hashlib.sha256
        index = start
        for n, oid, version, topic, state, stored in islice(rows, start, None):
            lo, lt = len(oid), len(topic)
            pack = packs.get((lo, lt)) or make(lo, lt)
            h = sha256(pack(previous, n, lo, oid, version, lt, topic, len(state)))
            h.update(state)
            value = h.digest()
            if value != stored:
                break
            previous = value
            index += 1
            if n >= until:
                break
        return previous, index


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
        for ev in map(event_row, cursor.fetchall()):
            previous = chain_hash(
                previous,
                ev.notification_id,
                ev.originator_id,
                ev.originator_version,
                ev.topic,
                ev.state,
            )
            rows.append((ev.notification_id, previous))
    rows += _chained(previous, batch)
    _insert(sql, cursor, rows)
    if sql.name != "sqlite":
        _heads[recorder] = rows[-1]


def _chained(previous: bytes, batch: list[tuple[int, StoredEvent]]) -> list[tuple[int, bytes]]:
    """The chain entries of a batch, in position order, after `previous`."""
    rows = []
    for nid, stored in batch:
        previous = chain_hash(
            previous,
            nid,
            stored.originator_id,
            stored.originator_version,
            stored.topic,
            stored.state,
        )
        rows.append((nid, previous))
    return rows


def _insert(sql: JournalSql, cursor: Any, rows: list[tuple[int, bytes]]) -> None:
    """Chain entries in as few statements as the driver allows: on PostgreSQL
    one INSERT of two binary arrays per 5,000 (no hex to encode and parse),
    on SQLite one prepared statement run over all of them."""
    if sql.name == "sqlite":
        cursor.executemany(sql.insert(), rows)
        return
    for start in range(0, len(rows), 5000):
        piece = rows[start : start + 5000]
        cursor.execute(
            f"INSERT INTO {JOURNAL_TABLE} (notification_id, chain_hash) "
            "SELECT * FROM unnest(%b::bigint[], %b::bytea[])",
            [[r[0] for r in piece], [r[1] for r in piece]],
        )


# -- reading, creating and backfilling ------------------------------------------


class JournalStore:
    """The journal and the events of one recorder's store, read in pages."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self.sql = dialect_of(recorder)

    @contextmanager
    def _cursor(self, *, write: bool = False, plain: bool = False) -> Iterator[Any]:
        """A cursor in a transaction; `plain`: one that reads rows as bare
        tuples (and, on PostgreSQL, in the binary format: no hex to decode)."""
        datastore = self.recorder.datastore
        if self.sql.name == "sqlite":
            if not write:
                with datastore.transaction(commit=False) as c:
                    if plain:
                        c.sqlite_cursor.row_factory = None
                    yield c
                return
            with datastore.get_connection(commit=True) as conn:
                # Take the write lock before reading the head (BEGIN IMMEDIATE),
                # so no writer slips in between.
                c = conn.cursor()
                c.execute("BEGIN IMMEDIATE")
                try:
                    yield c
                except BaseException:
                    conn.rollback()
                    raise
                conn.commit()
            return
        with datastore.get_connection() as conn:
            if write:
                with conn.transaction(), conn.cursor() as curs:
                    for statement in self.sql.lock():
                        curs.execute(statement)
                    yield curs
            elif plain:
                from psycopg.rows import tuple_row

                with conn.cursor(binary=True, row_factory=tuple_row) as curs:
                    yield curs
            else:
                with conn.cursor() as curs:
                    yield curs

    def _all(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._cursor() as c:
            c.execute(statement, list(params))
            return [row_tuple(r) for r in c.fetchall()]

    def exists(self) -> bool:
        return bool(self._all(self.sql.exists())[0][0])

    def create(self) -> None:
        with self._cursor(write=True) as c:
            for statement in self.sql.create():
                c.execute(statement)

    def head(self) -> tuple[int, bytes] | None:
        rows = self._all(self.sql.head())
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def entry_before(self, position: int) -> tuple[int, bytes] | None:
        rows = self._all(self.sql.entry_before(), [position])
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def max_position(self) -> int:
        return int(self._all(self.sql.max_position())[0][0] or 0)

    def events_page(self, after: int, limit: int) -> list[EventRow]:
        """Up to `limit` events after position `after`, in position order."""
        with self._cursor() as c:
            c.execute(self.sql.events_between(limit=True), [after, MAX_POSITION, limit])
            return [event_row(r) for r in c.fetchall()]

    def chain_page(self, after: int, limit: int) -> list[tuple[Any, ...]]:
        """Up to `limit` events after position `after`, in position order, as
        bare tuples: (position, originator id bytes, version, topic bytes,
        state, chain entry or None); one query, one snapshot."""
        with self._cursor(plain=True) as c:
            c.execute(self.sql.chain_page(), [after, after, limit])
            rows: list[tuple[Any, ...]] = c.fetchall()
            return rows

    def count_entries(self, after: int, before: int) -> int:
        """How many chain entries lie strictly between two positions."""
        return int(self._all(self.sql.count_entries(), [after, before])[0][0])

    def count_events(self, after: int, before: int) -> tuple[int, int | None]:
        """How many events lie strictly between two positions, and the last."""
        count, last = self._all(self.sql.count_events(), [after, before])[0]
        return int(count), None if last is None else int(last)

    def first_orphan(self, after: int, before: int) -> int | None:
        """The first chain entry strictly between two positions without its event."""
        rows = self._all(self.sql.first_orphan(), [after, before])
        return int(rows[0][0]) if rows else None

    def events_before(self, position: int, limit: int) -> list[EventRow]:
        """Up to `limit` events before `position`, newest first."""
        return [event_row(r) for r in self._all(self.sql.events_before(), [position, limit])]

    def entries(self, after: int, upto: int) -> list[tuple[int, bytes]]:
        rows = self._all(self.sql.entries_between(), [after, upto])
        return [(int(n), bytes(h)) for n, h in rows]

    def backfill(
        self, page: int = BACKFILL_PAGE, progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Chain every unchained event, one bounded transaction per page;
        resumable (each page starts from the chain's head). Returns how many
        events it chained."""
        done = 0
        while True:
            with self._cursor(write=True) as c:
                c.execute(self.sql.head())
                found = c.fetchone()
                head_id, previous = (
                    (0, GENESIS)
                    if found is None
                    else (int(row_tuple(found)[0]), bytes(row_tuple(found)[1]))
                )
                c.execute(self.sql.events_between(limit=True), [head_id, MAX_POSITION, page])
                events = [event_row(r) for r in c.fetchall()]
                rows = []
                for ev in events:
                    previous = chain_hash(
                        previous,
                        ev.notification_id,
                        ev.originator_id,
                        ev.originator_version,
                        ev.topic,
                        ev.state,
                    )
                    rows.append((ev.notification_id, previous))
                if rows:
                    _insert(self.sql, c, rows)
            done += len(rows)
            if progress is not None and rows:
                progress(done, rows[-1][0])
            if len(rows) < page:
                return done


def backfill_journal(recorder: Any) -> None:
    """Chain every event stored before the journal existed (resumable)."""
    chained = JournalStore(recorder).backfill()
    if chained:
        log.info("journal: chained %d events stored before the journal existed", chained)


def upgrade(recorder: Any) -> int:
    """Create the journal table and chain every event not yet chained."""
    store = JournalStore(recorder)
    store.create()
    return store.backfill()
