"""The lineage of one invoice: line -> work item -> the events that billed it.

For every line of an invoice (or credit note, or re-issue) the trace names
its work item and the item's events that made it what was billed: the
capture, the revisions, the approval, the pricing and the invoicing. Each
event says who and when (business time at the source, and the time the
ledger recorded it) and where it came from: the CDC position (connector,
table, key, LSN, txId; topic, partition and offset where the provenance
holds them) or the webhook delivery. The invoice's own events (drafted,
issued, posted, repricing approved) and its rule version head the trace.

The events are read from the store, one aggregate at a time: the cost is
the invoice's items' histories, never the whole store's; a line's history,
once billed, never changes and is kept (`Tracer`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any
from uuid import UUID
from weakref import WeakKeyDictionary

import orjson
from eventsourcing.domain import DomainEventProtocol

from domain.errors import UnknownEntity
from domain.handlers import ITEM_KINDS
from domain.invoice import Invoice
from domain.provenance import Provenance
from psledger.app import LedgerApplication

Event = DomainEventProtocol[UUID]
EventReader = Callable[[UUID, int | None], Sequence[Event]]  # (aggregate id, after version)

ROLES = {
    "Captured": "capture",
    "Revised": "revision",
    "CorrectionRecorded": "correction",
    "CorrectionWithdrawn": "correction",
    "Approved": "approval",
    "Unapproved": "approval",
    "Priced": "pricing",
    "Unpriced": "pricing",
    "ExceptionRaised": "pricing",
    "Invoiced": "invoicing",
    "Credited": "invoicing",
    "ReturnedForReissue": "invoicing",
    "Posted": "posting",
    "Rejected": "posting",
    "Drafted": "invoicing",
    "Issued": "invoicing",
    "CreditNoteRecorded": "invoicing",
    "ReissueRecorded": "invoicing",
    "RepricingApproved": "approval",
    "RepricingApplied": "invoicing",
}
HIDDEN = {"originator_id", "originator_version", "originator_topic", "timestamp", "provenance"}
# The position fields of a provenance, in the order an auditor reads them.
POSITION = (
    "source_system",
    "connector",
    "topic",
    "partition",
    "offset",
    "table",
    "key",
    "lsn",
    "tx_id",
    "delivery_id",
    "signature_key_id",
    "record_id",
)


def recorded_at(event: Event) -> datetime:
    """When the ledger recorded the event."""
    value = vars(event)["timestamp"]
    assert isinstance(value, datetime)
    return value


def event_name(event: Event) -> str:
    return type(event).__qualname__.rsplit(".", 1)[-1]


def position(provenance: Provenance | dict[str, Any] | None) -> dict[str, Any] | None:
    """Where a change came from: the CDC or webhook position it carries."""
    if provenance is None:
        return None
    data = provenance.to_dict() if isinstance(provenance, Provenance) else provenance
    return {name: data[name] for name in POSITION if data.get(name) is not None}


def trace_entry(event: Event) -> dict[str, Any]:
    """One event: what, who, when (business and recorded) and from where."""
    provenance: Provenance | None = getattr(event, "provenance", None)
    name = event_name(event)
    data = {k: v for k, v in vars(event).items() if k not in HIDDEN}
    return {
        "event": name,
        "role": ROLES.get(name, "other"),
        "version": event.originator_version,
        "actor": provenance.actor if provenance else None,
        "business_time": provenance.business_time if provenance else None,
        "recorded_at": recorded_at(event),
        "source": provenance.describe() if provenance else None,
        "position": position(provenance),
        "rule_version": provenance.rule_version if provenance else None,
        "data": data,
    }


def billed_events(
    events: Sequence[Event], invoice: str, drafted: datetime | None
) -> tuple[list[Event], bool]:
    """The item's events up to the one that put it on `invoice`, and True;
    without one (a rebill after a repricing), the events recorded up to the
    invoice's drafting, and False. Either is history that never changes
    (a posting after it is on the invoice's own events)."""
    names = {"Invoiced": "invoice_number", "Credited": "credit_note"}
    cut = None
    for i, event in enumerate(events):
        field = names.get(event_name(event))
        if field is not None and getattr(event, field, None) == invoice:
            cut = i
    if cut is None:
        return [e for e in events if drafted is None or recorded_at(e) <= drafted], False
    return list(events[: cut + 1]), True


def json_ready(value: Any) -> Any:
    """Decimals and dates as strings, provenance as its set fields (orjson)."""
    return orjson.loads(orjson.dumps(value, default=_encode))


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Provenance):
        return value.to_dict()
    raise TypeError(f"cannot trace a {type(value).__name__}")


@dataclass
class _Known:
    """An invoice traced before: its state, its events so far, its lines."""

    invoice: Invoice
    version: int
    events: list[dict[str, Any]]
    lines: list[dict[str, Any]]
    drafted: datetime
    histories: dict[UUID, list[dict[str, Any]]] = field(default_factory=dict)


class Tracer:
    """Traces the invoices of one event store.

    The store is append-only: an invoice's lines never change after it is
    drafted, and a line's history up to the event that billed it never
    changes. Both are kept once read, so tracing an invoice again costs one
    query for its new events, if any.
    """

    def __init__(self, read: EventReader, size: int = 2_000) -> None:
        self.read = read
        self.size = size
        self.known: OrderedDict[str, _Known] = OrderedDict()

    def trace(self, number: str) -> dict[str, Any]:
        """The trace of invoice `number`; UnknownEntity when there is none."""
        known = self._known(number)
        lines = [
            head | {"events": self._history(known, line)}
            for head, line in zip(known.lines, known.invoice.lines, strict=True)
        ]
        return _head(known.invoice) | {"events": known.events, "lines": lines}

    def _known(self, number: str) -> _Known:
        known = self.known.get(number)
        new = list(self.read(Invoice.id_for(number), known.version if known else None))
        if known is None:
            invoice: Invoice | None = None
            for event in new:
                invoice = event.mutate(invoice)  # type: ignore[attr-defined]
            if invoice is None:
                raise UnknownEntity(f"invoice {number} is not known to the ledger")
            heads = [json_ready(_line_head(line)) for line in invoice.lines]
            known = _Known(invoice, invoice.version, [], heads, recorded_at(new[0]))
            self.known[number] = known
            if len(self.known) > self.size:
                self.known.popitem(last=False)
        else:
            self.known.move_to_end(number)
            for event in new:
                event.mutate(known.invoice)  # type: ignore[attr-defined]
        if new:
            known.version = known.invoice.version
            known.events = known.events + json_ready([trace_entry(e) for e in new])
        return known

    def _history(self, known: _Known, line: dict[str, Any]) -> list[dict[str, Any]]:
        kind, item_id = line.get("item_kind"), line.get("item_id")
        if not item_id or kind not in ITEM_KINDS:
            return []
        key = ITEM_KINDS[str(kind)].id_for(str(item_id))
        found = known.histories.get(key)
        if found is None:
            number = known.invoice.business_id
            events, final = billed_events(list(self.read(key, None)), number, known.drafted)
            found = json_ready([trace_entry(e) for e in events])
            if final:
                known.histories[key] = found
        return found


def _head(invoice: Invoice) -> dict[str, Any]:
    header = invoice.header
    head: dict[str, Any] = json_ready(
        {
            "invoice": invoice.business_id,
            "kind": invoice.kind,
            "state": invoice.state,
            "contract_id": header.get("contract_id"),
            "period": header.get("period"),
            "currency": header.get("currency"),
            "net": invoice.net,
            "tax": invoice.tax,
            "gross": invoice.gross,
            "rule_version": header.get("rule_version"),
            "original_number": header.get("original_number"),
            "repricing_of": header.get("repricing_of"),
            "repricing_approved_by": header.get("approved_by"),
            "repricing_approved_at": header.get("approved_at"),
        }
    )
    return head


def _line_head(line: dict[str, Any]) -> dict[str, Any]:
    return {
        "line_no": line.get("line_no"),
        "item_kind": line.get("item_kind"),
        "item_id": line.get("item_id"),
        "part": line.get("part"),
        "description": line.get("description"),
        "quantity": line.get("quantity"),
        "net": line.get("net"),
        "rule_version": line.get("rule_version"),
        "contract_version": line.get("contract_version"),
        "credits_line": line.get("credits_line"),
        "source": line.get("source"),
        "source_position": position(line.get("source_record")),
        "approval": {
            "by": line.get("approved_by"),
            "at": line.get("approved_at"),
            "source": line.get("approval_source"),
            "position": position(line.get("approval_record")),
        },
    }


_TRACERS: WeakKeyDictionary[LedgerApplication, Tracer] = WeakKeyDictionary()


def trace(app: LedgerApplication, number: str) -> dict[str, Any]:
    """The trace of invoice `number` in `app`'s store (one tracer per store)."""
    tracer = _TRACERS.get(app)
    if tracer is None:
        events = app.events
        tracer = _TRACERS[app] = Tracer(lambda key, gt: list(events.get(key, gt=gt)))
    return tracer.trace(number)
