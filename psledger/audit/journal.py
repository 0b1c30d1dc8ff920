"""Digest and verify the tamper-evident journal (psledger/store/journal.py).

A digest is the chain's head: its position, its chain hash and when it was
taken. An auditor keeps it outside the system; `verify` later recomputes
the chain from the stored events, page by page, and proves that the history
up to the digest's position is still the one the digest was taken on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.errors import InputError
from psledger.audit.journal_digest import Digest
from psledger.store.journal import GENESIS, MAX_POSITION, ChainReader, JournalStore

PAGE = 5000

__all__ = ["PAGE", "Break", "Digest", "Verification", "take_digest", "verify"]


def _require(store: JournalStore) -> None:
    if not store.exists():
        raise InputError(
            "this store has no journal yet: run `psledger db upgrade` to create and backfill it"
        )


def take_digest(store: JournalStore, now: datetime | None = None) -> Digest:
    """The chain's head; refuses when events lie beyond it, unchained."""
    _require(store)
    head = store.head()
    position, head_hash = head if head else (0, GENESIS)
    last = store.max_position()
    if last > position:
        raise InputError(
            f"the journal ends at position {position} but the store holds events up to "
            f"{last}: run `psledger audit backfill` to chain them before taking a digest"
        )
    return Digest(position, head_hash, now or datetime.now(UTC))


@dataclass(frozen=True)
class Break:
    """The first position where the stored history and its chain disagree."""

    position: int
    what: str  # "event", "chain_entry", "unchained", "missing_event"
    detail: str


@dataclass
class Verification:
    verified: int = 0
    first: int | None = None
    last: int | None = None
    broken: Break | None = None
    digest: Digest | None = None
    digest_proven: bool | None = None  # None: no digest given
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.broken is None and self.digest_proven is not False


def verify(
    store: JournalStore,
    *,
    start: int = 1,
    digest: Digest | None = None,
    page: int = PAGE,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Recompute the chain from `start`, streaming `page` events at a time.

    From position 1 the chain starts at the genesis hash; from a later
    position it starts at the stored chain entry just before it (which only
    a run from the start, or a digest, vouches for). Each page is one query
    of the events joined to their chain entries; chain entries whose event
    is gone are counted once at the end (and found only when there are any).
    """
    if digest is not None and start > max(digest.position, 1):
        raise InputError(
            f"--from {start} is after the digest's position {digest.position}: "
            "start at or before it to prove the digest"
        )
    _require(store)
    run = _Run(Verification(digest=digest))
    if start > 1:
        before = store.entry_before(start)
        run.cursor, run.previous = before if before else (start - 1, GENESIS)
        if len(run.previous) != len(GENESIS):
            run.stop(Break(run.cursor, "chain_entry", f"position {run.cursor}: {_MALFORMED}"))
            return run.result
        run.passed(run.cursor, run.previous)
    elif digest is not None and digest.position == 0:
        run.result.digest_proven = digest.chain_hash == GENESIS
    origin = run.cursor
    while run.result.broken is None:
        rows = store.chain_page(run.cursor, page)
        failed = run.check(rows)
        if failed is not None:
            run.stop(_diagnose(store, run, rows, failed))
        elif rows and progress is not None:
            progress(run.cursor)
        if len(rows) < page:
            break
    if run.result.broken is None:
        _entries_past_the_end(store, run)
    _orphans(store, run, origin)
    run.close(store.max_position())
    return run.result


_MALFORMED = "the chain entry is not a 32-byte hash"


def _entries_past_the_end(store: JournalStore, run: _Run) -> None:
    """Chain entries after the last event read: events written since (not
    verified here), or entries whose event was deleted (a break)."""
    after = run.result.last or run.cursor
    beyond = store.entries(after, MAX_POSITION)
    if not beyond:
        return
    present = {ev.notification_id for ev in store.events_page(after, len(beyond))}
    for n, _ in beyond:
        if n not in present:
            run.stop(_deleted(n))
            return
    run.result.notes.append(
        f"{len(beyond)} events were stored while verifying; they were not verified"
    )


def _orphans(store: JournalStore, run: _Run, origin: int) -> None:
    """A chain entry whose event is gone, before the break (or the end):
    every event verified has its entry, so more entries than events verified
    in that span means one was deleted; the first of them is the break."""
    broken = run.result.broken
    end = broken.position if broken is not None else (run.result.last or origin) + 1
    if store.count_entries(origin, end) == run.result.verified:
        return
    gone = store.first_orphan(origin, end)
    if gone is None:
        return
    run.result.verified, last = store.count_events(origin, gone)
    run.result.last = last
    run.result.first = run.result.first if last else None
    run.result.broken = None
    run.stop(_deleted(gone))
    digest = run.result.digest
    if digest is not None and digest.position >= gone:
        run.result.digest_proven = False


def _deleted(n: int) -> Break:
    return Break(
        n,
        "missing_event",
        f"position {n}: the chain has an entry but the store has no event "
        "there (an event was deleted)",
    )


class _Run:
    """The state of one verification: the chain value so far, and the result."""

    def __init__(self, result: Verification) -> None:
        self.result = result
        self.previous = GENESIS
        self.cursor = 0
        self.reader = ChainReader()

    def check(self, rows: list[tuple[Any, ...]]) -> int | None:
        """Extend the chain over one page; the index of the first row that
        breaks it, or None when all match."""
        result, index = self.result, 0
        while index < len(rows):
            digest = result.digest
            undecided = digest is not None and result.digest_proven is None
            until = digest.position if digest is not None and undecided else MAX_POSITION
            self.previous, end = self.reader.extend(self.previous, rows, index, until)
            if end > index:
                result.verified += end - index
                result.first = result.first or rows[index][0]
                result.last = self.cursor = rows[end - 1][0]
                if self.cursor >= until:  # stopped at the digest's position
                    self.passed(self.cursor, self.previous)
                    index = end
                    continue
            if end < len(rows):
                return end
            index = end
        return None

    def passed(self, position: int, value: bytes) -> None:
        self.previous = value
        digest = self.result.digest
        if digest is None or self.result.digest_proven is not None:
            return
        if position == digest.position:
            self.result.digest_proven = value == digest.chain_hash
        elif position > digest.position:
            self.result.digest_proven = False
            self.result.notes.append(
                f"the store has no event at the digest's position {digest.position}"
            )

    def stop(self, broken: Break) -> None:
        self.result.broken = broken
        digest = self.result.digest
        if digest is not None and self.result.digest_proven is None:
            self.result.digest_proven = False

    def close(self, last: int) -> None:
        digest = self.result.digest
        if digest is None or self.result.digest_proven is not None:
            return
        self.result.digest_proven = False
        self.result.notes.append(
            f"the store ends at position {last}, before the digest's position "
            f"{digest.position}: history was removed"
        )


def _diagnose(store: JournalStore, run: _Run, rows: list[tuple[Any, ...]], at: int) -> Break:
    """Why rows[at] breaks the chain. A missing entry is an unchained event.
    Otherwise, tell a changed event from a changed chain entry: when the
    next entry still follows from the stored one, the entry is the original
    and the event was changed."""
    n, stored = rows[at][0], rows[at][5]
    if stored is None:
        return Break(
            n,
            "unchained",
            f"position {n}: the event has no chain entry (chain entries were "
            "deleted, or events were stored without the journal: "
            "`psledger audit backfill` chains an unchained tail)",
        )
    following = rows[at + 1 : at + 2] or store.chain_page(n, 1)
    what = "event"
    if following and following[0][5] is not None:
        follows = len(stored) == len(GENESIS) and (
            following[0][5] == run.reader.hash(stored, following[0])
        )
        what = "event" if follows else "chain_entry"
    event = store.events_page(n - 1, 1)
    about = (
        f"originator {event[0].originator_id} version {event[0].originator_version}, "
        f"{event[0].topic}"
        if event and event[0].notification_id == n
        else "an event"
    )
    if what == "event":
        detail = (
            f"position {n}: the stored event ({about}) does not match its chain entry; "
            "the event was changed after it was recorded"
        )
    else:
        detail = f"position {n}: the chain entry does not match the stored event ({about})"
    return Break(n, what, detail)
