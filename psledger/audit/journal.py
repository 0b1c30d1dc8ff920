"""Digest and verify the tamper-evident journal (psledger/store/journal.py).

A digest is the chain's head: its position, its chain hash and when it was
taken. An auditor keeps it outside the system; `verify` later recomputes
the chain from the stored events, page by page, and proves that the history
up to the digest's position is still the one the digest was taken on.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime

from domain.errors import InputError
from psledger.audit.journal_digest import Digest
from psledger.audit.journal_jobs import Helpers, Reopen, can_fork
from psledger.audit.journal_walk import (
    Break,
    Run,
    Verification,
    combine,
    digest_for,
    split_ranges,
    walk_range,
)
from psledger.store.journal import GENESIS, MAX_POSITION, JournalStore

__all__ = [
    "MIN_PER_JOB",
    "PAGE",
    "Break",
    "Digest",
    "Reopen",
    "Verification",
    "default_jobs",
    "take_digest",
    "verify",
]

PAGE = 5000
MIN_PER_JOB = 20_000  # below this a forked process costs more than it saves


def default_jobs() -> int:
    """Processes for `audit verify`: the CPUs this process may use, up to 4,
    where processes can be forked."""
    return min(4, len(os.sched_getaffinity(0))) if can_fork() else 1


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


def verify(
    store: JournalStore,
    *,
    start: int = 1,
    digest: Digest | None = None,
    page: int = PAGE,
    progress: Callable[[int], None] | None = None,
    jobs: int = 1,
    reopen: Reopen | None = None,
    min_per_job: int = MIN_PER_JOB,
) -> Verification:
    """Recompute the chain from `start`, streaming `page` events at a time.

    From position 1 the chain starts at the genesis hash; from a later
    position it starts at the stored chain entry just before it (which only
    a run from the start, or a digest, vouches for). Each page is one query
    of the events joined to their chain entries; chain entries whose event
    is gone are counted once at the end (and found only when there are any).

    With `jobs` > 1 and `reopen` (a fresh store for a forked process), a
    long history is split into that many ranges of positions, each verified
    in its own process from the stored entry before it: every link is
    checked against the stored entry it follows, so the ranges hold
    together exactly when the whole chain does. `progress` gets the number
    of events each page verified.
    """
    if digest is not None and start > max(digest.position, 1):
        raise InputError(
            f"--from {start} is after the digest's position {digest.position}: "
            "start at or before it to prove the digest"
        )
    _require(store)
    jobs = jobs if reopen is not None and can_fork() else 1
    ranges = split_ranges(start, store.max_position(), jobs, min_per_job)
    with Helpers(store, reopen, ranges, digest, page) as helpers:
        first = walk_range(
            store, ranges[0], digest_for(ranges, 0, digest), page, helpers.relay(progress)
        )
        runs = [first] if first.result.broken else [first, *helpers.results(progress)]
    run = combine(runs, digest)
    if run.result.broken is None:
        _entries_past_the_end(store, run)
    _orphans(store, run, first.origin)
    run.close(store.max_position())
    return run.result


def _entries_past_the_end(store: JournalStore, run: Run) -> None:
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


def _orphans(store: JournalStore, run: Run, origin: int) -> None:
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
