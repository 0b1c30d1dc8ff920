"""Read-side services: find invoices, history and state as of a moment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from domain.contract import Contract
from domain.customer import Customer
from domain.errors import InputError, UnknownEntity
from domain.handlers import ITEM_KINDS
from domain.invoice import Invoice
from domain.project import Assignment, Project
from domain.rate_card import RateCard
from domain.work_item import WorkItem
from domain.worker import Worker
from projections.history import history as history_entries
from projections.views import aggregate_view
from psledger.ledger import Ledger

KINDS: dict[str, type[Any]] = {
    "customer": Customer,
    "contract": Contract,
    "rate_card": RateCard,
    "worker": Worker,
    "project": Project,
    "assignment": Assignment,
    "invoice": Invoice,
    **ITEM_KINDS,
}


def parse_instant(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{text!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def find_invoices(
    ledger: Ledger,
    *,
    contract: str | None = None,
    period: str | None = None,
    state: str | None = None,
) -> list[Invoice]:
    found = [
        inv
        for inv in ledger.invoices()
        if (contract is None or inv.contract_id == contract)
        and (period is None or inv.header["period"] == period)
        and (state is None or inv.state == state)
    ]
    return sorted(found, key=lambda inv: (inv.header["period"], inv.business_id))


def find_items(
    ledger: Ledger, *, state: str | None = None, exception: str | None = None
) -> list[WorkItem]:
    """Work items by state and billing exception ("any" for every exception)."""
    found = [
        item
        for item in ledger.work_items()
        if (state is None or item.state == state)
        and (
            exception is None
            or (item.exception is not None and exception in ("any", item.exception["code"]))
        )
    ]
    return sorted(found, key=lambda i: (i.item_date or date.max, i.KIND, i.business_id))


def _kinds_of(ledger: Ledger, entity_id: str) -> list[str]:
    if ":" in entity_id and entity_id.split(":", 1)[0] in KINDS:
        kind, business_id = entity_id.split(":", 1)
        return [kind] if business_id in ledger.entity_ids(kind) else []
    return ledger.entity_kinds(entity_id)


def _split(entity_id: str) -> str:
    head, _, tail = entity_id.partition(":")
    return tail if tail and head in KINDS else entity_id


def history(ledger: Ledger, entity_id: str) -> list[dict[str, Any]]:
    """Every event of every entity with this id, oldest first."""
    kinds = _kinds_of(ledger, entity_id)
    if not kinds:
        raise UnknownEntity(f"no entity {entity_id!r} in the ledger")
    business_id = _split(entity_id)
    entries: list[dict[str, Any]] = []
    for kind in kinds:
        events = ledger.app.aggregate_events(KINDS[kind].id_for(business_id))
        entries.extend(history_entries(kind, business_id, events))  # type: ignore[arg-type]
    return sorted(entries, key=lambda e: (e["recorded_at"], e["entity"], e["version"]))


def entity_state(ledger: Ledger, entity_id: str, as_of: datetime | None) -> list[dict[str, Any]]:
    """The state of each entity with this id, now or as it was at `as_of`."""
    kinds = _kinds_of(ledger, entity_id)
    if not kinds:
        raise UnknownEntity(f"no entity {entity_id!r} in the ledger")
    business_id = _split(entity_id)
    states = []
    for kind in kinds:
        aggregate_id = KINDS[kind].id_for(business_id)
        version = None
        if as_of is not None:
            events = ledger.app.aggregate_events(aggregate_id)
            before = [e.originator_version for e in events if e.timestamp <= as_of]  # type: ignore[attr-defined]
            if not before:
                continue
            version = before[-1]
        aggregate: Any = ledger.app.repository.get(aggregate_id, version=version)
        states.append(aggregate_view(aggregate))
    if not states:
        raise UnknownEntity(f"{entity_id} did not exist yet at {as_of}")
    return states
