"""Rows the ledger writes beside its events, in the same transaction.

Dedup keys, the entity index, quarantine and parking rows and source
positions travel with a batch's events into one recorder transaction
(`LedgerRows`), so a crash can never separate them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class DedupRow:
    key: str
    result: str  # JSON: what the first delivery answered
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class EntityRow:
    kind: str
    business_id: str
    parent_id: str | None


@dataclass(frozen=True, slots=True)
class QuarantineRow:
    id: str
    source: str
    partition: int
    offset: int
    record_key: str | None
    raw: bytes
    reason: str
    detail: str
    created_at: datetime
    status: str = "open"


@dataclass(frozen=True, slots=True)
class ParkedRow:
    id: str
    waits_for: str
    source: str
    partition: int
    offset: int
    raw: bytes
    reason: str
    parked_at: datetime
    targets: tuple[str, ...] | None = None  # kind:id it changes (None: rows from before)


@dataclass(frozen=True, slots=True)
class PositionRow:
    source: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class StagedRow:
    """A piece of a source transaction not yet complete, kept until its END's
    counts are met, whichever consumer holds the last piece."""

    tx_id: str
    source: str
    partition: int
    offset: int
    raw: bytes
    staged_at: datetime


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """An issued invoice, re-issue or credit note's ERP payload (JSON), written
    in the transaction that issues it; a relay publishes it later."""

    number: str
    payload: bytes
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ItemStateRow:
    """A work item's or project's billing state (psledger.store.item_index),
    as of `version` of its aggregate."""

    kind: str
    business_id: str
    aggregate_id: str
    version: int
    project_id: str | None  # an item's project
    contract_id: str | None  # a project's contract
    state: str
    month: str  # the item's date as YYYY-MM ("" when it has none)
    invoice_ref: str | None  # the invoice it is on, or the rejected one it returns from
    open: int  # 1: it can change an invoice (item_index.can_change_an_invoice)


@dataclass
class LedgerRows:
    """Everything besides events that one batch writes."""

    dedup: list[DedupRow] = field(default_factory=list)
    entities: list[EntityRow] = field(default_factory=list)
    quarantine: list[QuarantineRow] = field(default_factory=list)
    quarantine_status: list[tuple[str, str]] = field(default_factory=list)
    parked: list[ParkedRow] = field(default_factory=list)
    unparked: list[str] = field(default_factory=list)
    positions: list[PositionRow] = field(default_factory=list)
    staged: list[StagedRow] = field(default_factory=list)
    unstaged: list[tuple[str, int, int]] = field(default_factory=list)  # (source, part, position)
    source_order: list[tuple[str, int]] = field(default_factory=list)  # (entity, lsn applied)
    outbox: list[OutboxRow] = field(default_factory=list)
    outbox_sent: list[tuple[str, str]] = field(default_factory=list)  # (number, sent_at ISO)
    item_states: list[ItemStateRow] = field(default_factory=list)

    def __bool__(self) -> bool:
        return any(
            (
                self.dedup,
                self.entities,
                self.quarantine,
                self.quarantine_status,
                self.parked,
                self.unparked,
                self.positions,
                self.staged,
                self.unstaged,
                self.source_order,
                self.outbox,
                self.outbox_sent,
                self.item_states,
            )
        )
