"""Read-side services: find invoices, history and state as of a moment."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from domain.contract import Contract
from domain.customer import Customer
from domain.errors import InputError, UnknownEntity
from domain.handlers import ITEM_KINDS
from domain.invoice import Invoice
from domain.project import Assignment, Project
from domain.provenance import Provenance
from domain.rate_card import RateCard
from domain.work_item import WorkItem
from domain.worker import Worker
from projections.history import history as history_entries
from projections.views import aggregate_view

if TYPE_CHECKING:
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
    return as_utc(moment)


def as_utc(moment: datetime) -> datetime:
    """An instant without an offset is taken as UTC."""
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


def event_time(event: Any) -> datetime:
    """An event's business time: when its change happened at the source (a
    CDC commit time, a webhook's occurred_at); the time the ledger recorded
    it when its provenance has none (the ledger's own events)."""
    provenance = getattr(event, "provenance", None)
    business = provenance.business_time if isinstance(provenance, Provenance) else None
    recorded: datetime = event.timestamp
    return business or recorded


def version_as_of(
    events: Sequence[Any], moment: datetime, clock: Callable[[Any], datetime]
) -> int | None:
    """The last version of the prefix of events that had happened by `moment`.

    Replay is only sound on a prefix: the first event that happens after the
    moment ends it, even when a later event carries an earlier time (a late
    arrival is not applied over events the ledger decided before it)."""
    version = None
    for event in events:
        if clock(event) > moment:
            break
        version = event.originator_version
    return version


def entity_state(
    ledger: Ledger,
    entity_id: str,
    as_of: datetime | None = None,
    *,
    recorded_as_of: datetime | None = None,
) -> list[dict[str, Any]]:
    """The state of each entity with this id: now, as it was at a business
    time (`as_of`), or as the ledger had recorded it by a moment
    (`recorded_as_of`)."""
    if as_of is not None and recorded_as_of is not None:
        raise InputError("give either as-of (business time) or recorded-as-of, not both")
    kinds = _kinds_of(ledger, entity_id)
    if not kinds:
        raise UnknownEntity(f"no entity {entity_id!r} in the ledger")
    business_id = _split(entity_id)
    moment, clock = (as_of, event_time) if recorded_as_of is None else (recorded_as_of, _recorded)
    states = []
    for kind in kinds:
        aggregate_id = KINDS[kind].id_for(business_id)
        version = None
        if moment is not None:
            version = version_as_of(ledger.app.aggregate_events(aggregate_id), moment, clock)
            if version is None:
                continue
        aggregate: Any = ledger.app.repository.get(aggregate_id, version=version)
        states.append(aggregate_view(aggregate))
    if not states:
        which = "recorded time" if recorded_as_of is not None else "business time"
        raise UnknownEntity(f"{entity_id} did not exist yet at {moment} ({which})")
    return states


def _recorded(event: Any) -> datetime:
    recorded: datetime = event.timestamp
    return recorded
