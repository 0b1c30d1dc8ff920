"""A digest as the auditor keeps it: POSITION:HASH, the JSON of
`audit digest --format json`, or a file holding either."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.errors import InputError
from psledger.audit.journal import Digest
from psledger.store.journal import GENESIS, MAX_POSITION, ChainReader, chain_hash

HASH = "ab" * 32


def test_a_digest_reads_from_its_compact_form_its_json_and_a_file(tmp_path: Path) -> None:
    compact = Digest.parse(f"41:{HASH}")
    assert (compact.position, compact.chain_hash.hex(), compact.taken_at) == (41, HASH, None)
    as_json = Digest.parse(
        json.dumps({"position": 41, "chain_hash": HASH, "taken_at": "2026-01-31T23:59:00Z"})
    )
    assert as_json.position == 41 and as_json.taken_at is not None
    assert as_json.to_dict()["taken_at"] == "2026-01-31T23:59:00Z"
    assert as_json.to_dict()["digest"] == f"41:{HASH}"
    (tmp_path / "d.json").write_text(json.dumps(as_json.to_dict()))
    (tmp_path / "d.txt").write_text(f"41:{HASH}\n")
    assert Digest.parse(str(tmp_path / "d.json")).compact == compact.compact
    assert Digest.parse(str(tmp_path / "d.txt")).compact == compact.compact


@pytest.mark.parametrize(
    "text", ["41", f"41:{HASH[:-2]}", '{"position": 1}', "/no/such/digest", "{not json"]
)
def test_anything_else_is_refused_with_one_line(text: str) -> None:
    with pytest.raises(InputError):
        Digest.parse(text)


def test_every_stored_field_and_the_previous_hash_change_the_chain_hash() -> None:
    base = (GENESIS, 7, "a" * 32, 3, "domain.time_entry:TimeEntry.Revised", b'{"x":1}')
    variants = [
        (bytes([1]) + GENESIS[1:], *base[1:]),
        (base[0], 8, *base[2:]),
        (*base[:2], "b" * 32, *base[3:]),
        (*base[:3], 4, *base[4:]),
        (*base[:4], "domain.time_entry:TimeEntry.Approved", base[5]),
        (*base[:5], b'{"x":2}'),
        # moving a byte between adjacent fields is a different event too
        (*base[:4], base[4] + "{", base[5][1:]),
    ]
    hashes = {chain_hash(*v) for v in [base, *variants]}  # type: ignore[arg-type]
    assert len(hashes) == len(variants) + 1


def test_the_verifier_hashes_rows_read_back_exactly_as_the_writer_hashed_events() -> None:
    # given events of several id and topic lengths, chained by the writer's hash
    events = [
        (3, "a" * 32, 1, "domain.time_entry:TimeEntry.Revised", b'{"x":1}'),
        (4, "W-1", 2, "t", b""),
        (9, "b" * 32, 7, "domain.prix:Prix.Révisé", b"\x00" * 700),  # a gap before, non-ASCII
        (10, "a" * 32, 2, "domain.time_entry:TimeEntry.Revised", b'{"x":2}'),
    ]
    previous, rows = GENESIS, []
    for n, oid, version, topic, state in events:
        previous = chain_hash(previous, n, oid, version, topic, state)
        rows.append((n, oid.encode(), version, topic.encode(), state, previous))
    # when the verifier recomputes them from the bytes, then every entry matches
    reader = ChainReader()
    assert reader.extend(GENESIS, rows, 0, MAX_POSITION) == (previous, len(rows))
    assert reader.hash(rows[1][5], rows[2]) == rows[2][5]
    # and it stops at the row whose entry differs, or just past the given position
    rows[2] = (*rows[2][:5], GENESIS)
    assert reader.extend(GENESIS, rows, 0, MAX_POSITION) == (rows[1][5], 2)
    assert reader.extend(GENESIS, rows, 0, 4) == (rows[1][5], 2)
    assert reader.extend(GENESIS, rows, 0, 3) == (rows[0][5], 1)
