"""One range of positions of the journal, verified page by page: the chain
recomputed from the stored entry before the range and checked against each
stored entry (see psledger/audit/journal.py for the whole verification)."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from psledger.audit.journal_digest import Digest
from psledger.store.journal import GENESIS, MAX_POSITION, ChainReader, JournalStore

MALFORMED = "the chain entry is not a 32-byte hash"

_position = itemgetter(0)


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


class Run:
    """The state of one verification (or one range of it): the chain value
    so far, where it started and ends, and the result."""

    def __init__(self, result: Verification, origin: int = 0) -> None:
        self.result = result
        self.previous = GENESIS
        self.origin = self.cursor = origin
        self.reader = ChainReader()

    def check(self, rows: Sequence[tuple[Any, ...]]) -> int | None:
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
            self.no_event_at_the_digest()

    def no_event_at_the_digest(self) -> None:
        assert self.result.digest is not None
        self.result.digest_proven = False
        self.result.notes.append(
            f"the store has no event at the digest's position {self.result.digest.position}"
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


def walk_range(
    store: JournalStore,
    span: tuple[int, int],
    digest: Digest | None,
    page: int,
    progress: Callable[[int], None] | None,
) -> Run:
    """Verify the events at positions span[0]..span[1], page by page,
    stopping at the first break. The digest is given only to the range
    that holds its position."""
    first, last = span
    run = Run(Verification(digest=digest))
    if first > 1:
        before = store.entry_before(first)
        run.origin, run.previous = before if before else (first - 1, GENESIS)
        run.cursor = run.origin
        if len(run.previous) != len(GENESIS):
            run.stop(Break(run.cursor, "chain_entry", f"position {run.cursor}: {MALFORMED}"))
            return run
        run.passed(run.cursor, run.previous)
    elif digest is not None and digest.position == 0:
        run.result.digest_proven = digest.chain_hash == GENESIS
    while run.result.broken is None:
        rows = store.chain_page(run.cursor, page)
        more = len(rows) == page
        if rows and rows[-1][0] > last:
            rows, more = rows[: bisect_right(rows, last, key=_position)], False
        failed = run.check(rows)
        if failed is not None:
            run.stop(diagnose(store, run, rows, failed))
        elif rows and progress is not None:
            progress(len(rows))
        if not more:
            break
    return run


def diagnose(store: JournalStore, run: Run, rows: Sequence[tuple[Any, ...]], at: int) -> Break:
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


def combine(runs: Sequence[Run], digest: Digest | None) -> Run:
    """The ranges' runs, in position order, as one: everything up to and
    including the first range that broke. A digest undecided in its range
    is refuted by an event verified after its position in a later one."""
    whole = runs[0]
    result = whole.result
    result.digest = digest
    for run in runs[1:]:
        part = run.result
        if digest is not None and result.digest_proven is None:
            if part.digest is not None:
                result.digest_proven = part.digest_proven
            elif part.first is not None and part.first > digest.position:
                whole.no_event_at_the_digest()
        result.verified += part.verified
        result.first = result.first or part.first
        result.last = part.last or result.last
        result.notes.extend(part.notes)
        whole.cursor, whole.previous = run.cursor, run.previous
        if part.broken is not None:
            result.broken = part.broken
            break
    if result.broken is not None:
        whole.stop(result.broken)  # a digest still undecided is not proven
    return whole


def split_ranges(start: int, end: int, jobs: int, min_per_job: int) -> list[tuple[int, int]]:
    """Positions start..end (and anything stored after) in at most `jobs`
    consecutive ranges of at least `min_per_job` positions each; the last
    range is open-ended."""
    count = max(1, min(jobs, (end - start + 1) // max(1, min_per_job)))
    size = (end - start + 1) // count
    bounds = [start + i * size for i in range(count)] + [MAX_POSITION + 1]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(count)]


def digest_for(
    ranges: Sequence[tuple[int, int]], index: int, digest: Digest | None
) -> Digest | None:
    """The digest, for the range that holds its position (the first range
    also holds position 0, the digest of an empty store)."""
    if digest is None:
        return None
    low = ranges[index][0] if index else 0
    return digest if low <= digest.position <= ranges[index][1] else None
