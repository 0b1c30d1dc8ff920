"""What a PSA row says against what the ledger holds for its entity.

The PSA row goes through the CDC mapping (a `Sync*` command, exactly as at
ingest); each command's business fields are compared with the ledger
aggregate's current state. A field that differs is a `FieldDrift`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from domain import commands as c
from domain.base import LedgerAggregate
from domain.handlers import ITEM_KINDS
from domain.project import Assignment, Project
from domain.rate_card import RateCard
from domain.work_item import PLANNED, WorkItem

Load = Callable[[type[LedgerAggregate], str], LedgerAggregate | None]


@dataclass(frozen=True)
class FieldDrift:
    field: str
    source: Any
    ledger: Any


@dataclass(frozen=True)
class Compared:
    """One source entity: its key, and what the ledger says about it."""

    entity: str  # the mapping's entity: time_entry, rate_line, ...
    business_id: str
    found: bool
    drift: list[FieldDrift]


def compare(command: c.Command, load: Load) -> Compared:
    if isinstance(command, c.SyncRateCard):
        card = load(RateCard, command.rate_card_id)
        if not isinstance(card, RateCard):
            return Compared("rate_card", command.rate_card_id, False, [])
        return Compared(
            "rate_card",
            command.rate_card_id,
            True,
            _fields(
                {"name": command.name, "currency": command.currency},
                {"name": card.name, "currency": card.currency},
            ),
        )
    if isinstance(command, c.SyncRateLine):
        line = command.line
        card = load(RateCard, command.rate_card_id)
        held = card.lines.get(line.line_id) if isinstance(card, RateCard) else None
        if held is None:
            return Compared("rate_line", line.line_id, False, [])
        return Compared("rate_line", line.line_id, True, _fields(vars_of(line), vars_of(held)))
    if isinstance(command, c.SyncProject | c.SyncAssignment):
        cls: type[Project | Assignment]
        cls, entity, bid = (
            (Project, "project", command.project_id)
            if isinstance(command, c.SyncProject)
            else (Assignment, "assignment", command.assignment_id)
        )
        found = load(cls, bid)
        if not isinstance(found, cls):
            return Compared(entity, bid, False, [])
        return Compared(entity, bid, True, _fields(command.details, found.details))
    if isinstance(command, c.SyncWorkItem):
        item = load(ITEM_KINDS[command.kind], command.item_id)
        if not isinstance(item, WorkItem):
            return Compared(command.kind, command.item_id, False, [])
        return Compared(command.kind, command.item_id, True, _work_item(command, item))
    raise TypeError(f"reconciliation has no comparison for {type(command).__name__}")


def vars_of(line: Any) -> dict[str, Any]:
    return {
        "role": line.role,
        "hourly_rate": line.hourly_rate,
        "effective_from": line.effective_from,
        "effective_to": line.effective_to,
    }


def _fields(source: dict[str, Any], ledger: dict[str, Any]) -> list[FieldDrift]:
    return [
        FieldDrift(name, value, ledger.get(name))
        for name, value in source.items()
        if not _same(value, ledger.get(name))
    ]


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.rstrip() == b.rstrip()  # char(n) pads with blanks
    return bool(a == b)


def ledger_intent(item: WorkItem) -> str:
    """The PSA status intent (planned, approved, cancelled) the item's ledger
    state stands for."""
    if item.withdrawn or (item.pending_correction or {}).get("withdrawn"):
        return "cancelled"
    return "planned" if item.state == PLANNED else "approved"


def _work_item(command: c.SyncWorkItem, item: WorkItem) -> list[FieldDrift]:
    # A money change after invoicing waits as a pending correction: that is
    # the value the ledger will bill, not drift.
    current = {**item.fields, **(item.pending_correction or {})}
    drift = _fields(command.fields, current)
    intent = ledger_intent(item)
    if command.status != intent:
        drift.append(FieldDrift("status", command.status, f"{item.state} ({intent})"))
    elif intent == "approved":
        if command.approved_by is not None and command.approved_by != item.approved_by:
            drift.append(FieldDrift("approved_by", command.approved_by, item.approved_by))
        if command.approved_at is not None and command.approved_at != item.approved_at:
            drift.append(FieldDrift("approved_at", command.approved_at, item.approved_at))
    return drift
