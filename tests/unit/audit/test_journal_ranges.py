"""How `audit verify` cuts a history into ranges for its processes, and
puts their verdicts back together in position order (pure logic)."""

from __future__ import annotations

from psledger.audit.journal_digest import Digest
from psledger.audit.journal_walk import (
    Break,
    Run,
    Verification,
    combine,
    digest_for,
    split_ranges,
)
from psledger.store.journal import MAX_POSITION

DIGEST = Digest(15, b"\x01" * 32)


def part(first: int | None, last: int | None, verified: int, **kw: object) -> Run:
    run = Run(Verification(verified=verified, first=first, last=last, **kw))  # type: ignore[arg-type]
    run.cursor = last or 0
    return run


def test_ranges_cover_every_position_once_and_the_last_is_open_ended() -> None:
    assert split_ranges(1, 100, 3, 10) == [(1, 33), (34, 66), (67, MAX_POSITION)]
    assert split_ranges(51, 100, 4, 10) == [(51, 62), (63, 74), (75, 86), (87, MAX_POSITION)]


def test_no_range_is_shorter_than_the_minimum_nor_is_there_more_than_asked() -> None:
    assert split_ranges(1, 100, 8, 30) == [(1, 33), (34, 66), (67, MAX_POSITION)]
    assert split_ranges(1, 29, 2, 30) == [(1, MAX_POSITION)]
    assert split_ranges(1, 0, 2, 1) == [(1, MAX_POSITION)]  # an empty store
    assert split_ranges(1, 100, 1, 1) == [(1, MAX_POSITION)]


def test_the_digest_goes_to_the_range_that_holds_its_position() -> None:
    ranges = split_ranges(1, 30, 3, 1)  # (1, 10), (11, 20), (21, ...)
    assert [digest_for(ranges, i, DIGEST) for i in range(3)] == [None, DIGEST, None]
    empty = Digest(0, bytes(32))
    assert [digest_for(ranges, i, empty) for i in range(3)] == [empty, None, None]


def test_counts_add_up_and_the_last_range_sets_the_end() -> None:
    whole = combine([part(1, 10, 10), part(11, 20, 10), part(21, 27, 7)], None).result
    assert (whole.verified, whole.first, whole.last, whole.broken) == (27, 1, 27, None)


def test_the_first_break_wins_and_later_ranges_count_for_nothing() -> None:
    broken = Break(14, "event", "position 14: changed")
    later = Break(25, "event", "position 25: changed")
    whole = combine(
        [part(1, 10, 10), part(11, 13, 3, broken=broken), part(21, 24, 4, broken=later)], None
    ).result
    assert (whole.verified, whole.last, whole.broken) == (13, 13, broken)


def test_a_digest_is_decided_by_its_own_range() -> None:
    proven = part(11, 20, 10, digest=DIGEST, digest_proven=True)
    whole = combine([part(1, 10, 10), proven, part(21, 27, 7)], DIGEST).result
    assert whole.digest_proven is True and whole.ok


def test_a_break_before_the_digests_range_refutes_it() -> None:
    broken = Break(4, "event", "position 4: changed")
    whole = combine([part(1, 3, 3, broken=broken)], DIGEST).result
    assert whole.digest_proven is False and not whole.ok


def test_a_digest_at_a_position_with_no_event_is_refuted_by_the_next_event() -> None:
    # the digest's range (11..20) ended before position 15 with it undecided
    undecided = part(11, 14, 4, digest=DIGEST)
    whole = combine([part(1, 10, 10), undecided, part(21, 27, 7)], DIGEST).result
    assert whole.digest_proven is False
    assert whole.notes == ["the store has no event at the digest's position 15"]
