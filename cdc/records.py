"""Plain records flowing out of the change sources and the decoders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

Op = Literal["c", "u", "d", "r", "t", "m"]


class _Unavailable:
    """Debezium's TOAST placeholder: the column kept its value but it was not sent."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNAVAILABLE"

    def __reduce__(self) -> str:
        return "UNAVAILABLE"


UNAVAILABLE: Final = _Unavailable()
"""Sentinel that replaces ``__debezium_unavailable_value`` in decoded rows."""


@dataclass(frozen=True, slots=True)
class SourcePosition:
    """Where a record came from: a topic (or ``file:<path>``), a partition and an offset."""

    source: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RawRecord:
    """Undecoded bytes of one change record, as the broker, the engine or a file gave them."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()
    timestamp_ms: int | None = None

    @property
    def position(self) -> SourcePosition:
        return SourcePosition(self.topic, self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class TransactionRef:
    """The envelope's ``transaction`` block."""

    id: str
    total_order: int | None
    data_collection_order: int | None


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One decoded Debezium row change (or truncate / logical message)."""

    topic: str
    schema: str | None
    table: str | None
    op: Op
    key: dict[str, Any] | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    lsn: int | None
    tx_id: str | None
    commit_time: datetime | None
    snapshot: str | None
    connector: str | None
    database: str | None
    transaction: TransactionRef | None
    raw: RawRecord

    @property
    def is_snapshot(self) -> bool:
        return self.snapshot not in (None, "false")


@dataclass(frozen=True, slots=True)
class TransactionMarker:
    """A BEGIN or END record from the ``<prefix>.transaction`` topic."""

    status: Literal["BEGIN", "END"]
    tx_id: str
    event_count: int | None
    data_collections: tuple[tuple[str, int], ...]
    raw: RawRecord


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A Debezium heartbeat: nothing to apply, but still a position."""

    raw: RawRecord


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A Kafka tombstone (null value) following a delete."""

    key: dict[str, Any] | None
    raw: RawRecord


Decoded = ChangeEvent | TransactionMarker | Heartbeat | Tombstone
