"""What the audit lineage view stores for `psledger audit trace` (no I/O).

Each event becomes one trace entry: what happened, its role, who and when
(business time at the source and the time the ledger recorded it), where it
came from (the CDC position or the webhook delivery) and its rule version.
An invoice becomes its head (kind, state, totals, rule version, repricing
approval) and its line heads (item, priced amount, approval and source
position). All are JSON-ready (Decimals and dates as strings), so a trace is
the stored rows decoded, not the aggregates replayed.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import orjson

from domain.invoice import Invoice
from domain.provenance import Provenance

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
# The item events that put an item on a document: event name -> its field.
BILLING_EVENTS = {"Invoiced": "invoice_number", "Credited": "credit_note"}


def recorded_at(event: Any) -> datetime:
    """When the ledger recorded the event."""
    value = vars(event)["timestamp"]
    assert isinstance(value, datetime)
    return value


def event_name(event: Any) -> str:
    return type(event).__qualname__.rsplit(".", 1)[-1]


def position(provenance: Provenance | dict[str, Any] | None) -> dict[str, Any] | None:
    """Where a change came from: the CDC or webhook position it carries."""
    if provenance is None:
        return None
    data = provenance.to_dict() if isinstance(provenance, Provenance) else provenance
    return {name: data[name] for name in POSITION if data.get(name) is not None}


def trace_entry(event: Any) -> dict[str, Any]:
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


def entry_json(event: Any) -> str:
    """The event's trace entry as stored (JSON text)."""
    return orjson.dumps(trace_entry(event), default=_encode).decode()


def json_ready(value: Any) -> Any:
    """Decimals and dates as strings, provenance as its set fields (orjson)."""
    return orjson.loads(orjson.dumps(value, default=_encode))


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Provenance):
        return value.to_dict()
    raise TypeError(f"cannot trace a {type(value).__name__}")


def invoice_head(invoice: Invoice) -> dict[str, Any]:
    """The invoice as the trace heads it: kind, state, totals, rule version."""
    header = invoice.header
    return {
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


def line_head(line: dict[str, Any]) -> dict[str, Any]:
    """One invoice line: its item, what it billed, its approval and source."""
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


def trace_row(invoice: Invoice, notification_id: int) -> tuple[Any, ...]:
    """(number, drafted_at, head, lines, notification_id) of the trace table."""
    head = orjson.dumps(invoice_head(invoice), default=_encode).decode()
    lines = orjson.dumps([line_head(ln) for ln in invoice.lines], default=_encode).decode()
    return (invoice.business_id, invoice.created_on.isoformat(), head, lines, notification_id)


def invoice_event_row(invoice: Invoice, event: Any, notification_id: int) -> tuple[Any, ...]:
    """(number, version, notification_id, entry) of one of the invoice's events."""
    return (invoice.business_id, int(event.originator_version), notification_id, entry_json(event))


def billed_entries(
    rows: list[tuple[str, str | None, str, Any]], number: str, drafted: datetime
) -> list[Any]:
    """A line's history from its item's events (name, document, recorded_at,
    entry) in version order: up to the last one that put the item on
    `number`; without one (a rebill after a repricing), those recorded up to
    the invoice's drafting. Either is history that never changes."""
    cut = None
    for i, (name, document, _, _) in enumerate(rows):
        if name in BILLING_EVENTS and document == number:
            cut = i
    if cut is not None:
        return [entry for _, _, _, entry in rows[: cut + 1]]
    return [entry for _, _, at, entry in rows if _as_time(at) <= drafted]


def _as_time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
