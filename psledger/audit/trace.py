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
the invoice's items' histories, never the whole store's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from domain.errors import UnknownEntity
from domain.handlers import ITEM_KINDS
from domain.invoice import Invoice
from domain.provenance import Provenance
from projections.views import plain_dict

Event = DomainEventProtocol[UUID]
EventReader = Callable[[UUID], Sequence[Event]]

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


def billed_events(events: Sequence[Event], invoice: str, drafted: datetime | None) -> list[Event]:
    """The item's events up to the one that put it on `invoice` (and the
    postings right after it); without one (a rebill after a repricing), the
    events recorded up to the invoice's drafting."""
    names = {"Invoiced": "invoice_number", "Credited": "credit_note"}
    cut = None
    for i, event in enumerate(events):
        field = names.get(event_name(event))
        if field is not None and getattr(event, field, None) == invoice:
            cut = i
    if cut is None:
        return [e for e in events if drafted is None or recorded_at(e) <= drafted]
    end = cut + 1
    while end < len(events) and event_name(events[end]) == "Posted":
        end += 1
    return list(events[:end])


def trace_invoice(invoice: Invoice, read: EventReader) -> dict[str, Any]:
    """The invoice's lineage as a JSON-ready dict (`read` gives an aggregate's events)."""
    own = list(read(invoice.id))
    drafted = recorded_at(own[0]) if own else None
    header = invoice.header
    histories: dict[tuple[str, str], list[Event]] = {}
    lines = []
    for line in invoice.lines:
        kind, item_id = line.get("item_kind"), line.get("item_id")
        events: list[Event] = []
        if item_id and kind in ITEM_KINDS:
            key = (str(kind), str(item_id))
            if key not in histories:
                cls = ITEM_KINDS[str(kind)]
                histories[key] = billed_events(
                    list(read(cls.id_for(str(item_id)))), invoice.business_id, drafted
                )
            events = histories[key]
        lines.append(
            {
                "line_no": line.get("line_no"),
                "item_kind": kind,
                "item_id": item_id,
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
                "events": [trace_entry(e) for e in events],
            }
        )
    return plain_dict(
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
            "events": [trace_entry(e) for e in own],
            "lines": lines,
        }
    )


def trace(load: Callable[[str], Invoice | None], read: EventReader, number: str) -> dict[str, Any]:
    """The trace of invoice `number`; UnknownEntity when there is none."""
    invoice = load(number)
    if invoice is None:
        raise UnknownEntity(f"invoice {number} is not known to the ledger")
    return trace_invoice(invoice, read)


def render_text(found: dict[str, Any]) -> str:
    """The trace for a terminal: header, the invoice's events, then each line."""
    out = [
        f"{found['kind']} {found['invoice']} ({found['state']}), contract "
        f"{found['contract_id']}, period {found['period']}",
        f"rule version {found['rule_version']}; net {found['net']} tax {found['tax']} "
        f"gross {found['gross']} {found['currency']}",
        "invoice events:",
        *(_event_line(e) for e in found["events"]),
    ]
    for line in found["lines"]:
        what = f"{line['item_kind']} {line['item_id'] or ''} {line['part']}".replace("  ", " ")
        out.append(f"line {line['line_no']}: {what} net {line['net']} ({line['source']})")
        approval = line["approval"]
        if approval["by"] or approval["source"]:
            out.append(f"  approved by {approval['by']} at {approval['at']} ({approval['source']})")
        out.extend(_event_line(e) for e in line["events"])
    return "\n".join(out)


def _event_line(entry: dict[str, Any]) -> str:
    business = entry["business_time"] or "-"
    return (
        f"  v{entry['version']} {entry['event']:<18} {entry['role']:<10} "
        f"business {business} recorded {entry['recorded_at']} by {entry['actor'] or '-'}: "
        f"{entry['source']}"
    )
