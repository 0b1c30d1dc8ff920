"""Rows of the materialised views, from aggregates and events (no I/O).

Each function gives the rows in the column order of its table in
`projections.read.tables`. JSON columns hold exactly what the CLI prints
(`projections.views`), so a read decodes and prints them as they are.
"""

from __future__ import annotations

from typing import Any

import orjson

from domain.base import DetailedAggregate, LedgerAggregate
from domain.contract import Contract
from domain.handlers import ITEM_KINDS
from domain.invoice import Invoice
from domain.project import Project
from domain.work_item import WorkItem
from projections.erp import erp_payload
from projections.read.lineage import entry_json
from projections.read.tables import SORT_LAST
from projections.views import invoice_view, item_view, plain


def as_json(value: Any) -> str:
    return orjson.dumps(value).decode()


def invoice_row(invoice: Invoice, notification_id: int) -> tuple[Any, ...]:
    view = invoice_view(invoice)
    summary = {key: value for key, value in view.items() if key != "lines"}
    return (
        invoice.business_id,
        invoice.contract_id,
        invoice.header["period"],
        invoice.state,
        invoice.kind,
        view["invoice_date"],
        view["currency"],
        view["gross"],
        as_json(view),
        as_json(erp_payload(invoice)),
        notification_id,
        as_json(summary),
        len(view["lines"]),
    )


def item_row(item: WorkItem, notification_id: int) -> tuple[Any, ...]:
    view = item_view(item)
    return (
        item.KIND,
        item.business_id,
        view["project_id"],
        view["date"] or SORT_LAST,
        item.state,
        (item.exception or {}).get("code"),
        item.invoice_number,
        as_json(view),
        notification_id,
    )


def lineage_rows(invoice: Invoice) -> list[tuple[Any, ...]]:
    """(number, line_no, item_kind, item_id) for each line that bills a work item."""
    return [
        (invoice.business_id, int(line["line_no"]), line["item_kind"], str(line["item_id"]))
        for line in invoice.lines
        if line.get("item_id") and line.get("item_kind") in ITEM_KINDS
    ]


DOCUMENT_FIELDS = ("invoice_number", "credit_note", "rejected_invoice")


def item_event_row(item: WorkItem, event: Any, notification_id: int) -> tuple[Any, ...]:
    """One event of a work item, with its provenance, the document it names
    and its trace entry."""
    document = next((getattr(event, f) for f in DOCUMENT_FIELDS if hasattr(event, f)), None)
    provenance = getattr(event, "provenance", None)
    return (
        item.KIND,
        item.business_id,
        int(event.originator_version),
        notification_id,
        type(event).__name__,
        event.timestamp.isoformat(),
        document,
        as_json(plain(provenance)) if provenance is not None else None,
        entry_json(event),
    )


def parent_of(aggregate: LedgerAggregate) -> str | None:
    """The entity an aggregate belongs to now: an item's project, a project's
    or invoice's contract, a contract's customer."""
    if isinstance(aggregate, WorkItem):
        return aggregate.fields.get("project_id")
    if isinstance(aggregate, (Project, Invoice)):
        return aggregate.contract_id
    if isinstance(aggregate, Contract):
        return getattr(aggregate, "customer_id", None)
    if isinstance(aggregate, DetailedAggregate):
        for key in ("project_id", "contract_id", "customer_id"):
            if aggregate.details.get(key):
                return str(aggregate.details[key])
    return None


def entity_row(aggregate: LedgerAggregate, notification_id: int) -> tuple[Any, ...]:
    parent = parent_of(aggregate)
    return (
        aggregate.KIND,
        aggregate.business_id,
        None if parent is None else str(parent),
        int(aggregate.version),
        notification_id,
    )
