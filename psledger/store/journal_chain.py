"""The journal's hash: what `chain_hash` is over, and `ChainReader`, the
verifier's side of it over rows read back as bytes.

    chain(N) = SHA-256(chain(P) || N || originator id || version || topic || state)

See psledger/store/journal.py for the journal itself.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable, Sequence
from itertools import islice
from typing import Any
from uuid import UUID

GENESIS = bytes(32)

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


def chain_entries(
    previous: bytes, events: Iterable[tuple[int, UUID | str, int, str, bytes]]
) -> list[tuple[int, bytes]]:
    """The chain entries (position, chain hash) of events given in position
    order as (position, originator id, version, topic, state), after `previous`."""
    entries = []
    for notification_id, originator_id, version, topic, state in events:
        previous = chain_hash(previous, notification_id, originator_id, version, topic, state)
        entries.append((notification_id, previous))
    return entries


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
        packs, sha256 = self._packs, hashlib.sha256
        index, known_lo, known_lt = start, -1, -1
        pack: Callable[..., bytes] = struct.pack  # replaced at the first row
        for n, oid, version, topic, state, stored in islice(rows, start, None):
            lo, lt = len(oid), len(topic)
            if lo != known_lo or lt != known_lt:  # look up only when the lengths change
                known_lo, known_lt = lo, lt
                pack = packs.get((lo, lt)) or self._pack(lo, lt)
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
