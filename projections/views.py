"""Read views of aggregates: plain JSON-ready dicts for the CLI and HTTP."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from domain.base import LedgerAggregate
from domain.contract import Contract
from domain.invoice import Invoice
from domain.provenance import Provenance
from domain.work_item import WorkItem

_AS_IS = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """JSON-ready form: Decimals and dates as strings, dataclasses as dicts.
    The common types are told by their exact type first (a view has many
    thousands of values: the general checks below cost more than the work)."""
    kind = type(value)
    if kind in _AS_IS:
        return value
    if kind is dict:
        return {str(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if kind is Decimal:
        return str(value)
    return _plain(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, Provenance):
        return plain(value.to_dict())
    if is_dataclass(value) and not isinstance(value, type):
        return plain(asdict(value))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    return value


def plain_dict(value: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = plain(value)
    return result


def invoice_view(invoice: Invoice, *, with_lines: bool = True) -> dict[str, Any]:
    header = invoice.header
    view: dict[str, Any] = {
        "number": invoice.business_id,
        "kind": invoice.kind,
        "state": invoice.state,
        "contract_id": header["contract_id"],
        "period": header["period"],
        "legal_entity": header["legal_entity"],
        "customer_id": header["customer_id"],
        "invoice_date": header["invoice_date"],
        "due_date": header["due_date"],
        "currency": header["currency"],
        "net": invoice.net,
        "tax": invoice.tax,
        "gross": invoice.gross,
        "tax_code": header["tax_code"],
        "tax_rate": header["tax_rate"],
        "rule_version": header["rule_version"],
        "contract_version": header.get("contract_version"),
        "original_number": header.get("original_number"),
        "project_id": header.get("project_id"),
        "milestone_id": header.get("milestone_id"),
        "po_number": header.get("po_number"),
        "erp_document_no": invoice.erp_document_no,
        "rejection_reason": invoice.rejection_reason,
        "credit_notes": list(invoice.credit_notes),
        "reissues": list(invoice.reissues),
    }
    if with_lines:
        view["lines"] = invoice.lines
    return plain_dict(view)


def item_view(item: WorkItem) -> dict[str, Any]:
    return plain_dict(
        {
            "id": item.business_id,
            "kind": item.KIND,
            "state": item.state,
            "withdrawn": item.withdrawn,
            "project_id": item.project_id,
            "date": item.item_date,
            "fields": item.fields,
            "approved_by": item.approved_by,
            "approved_at": item.approved_at,
            "exception": item.exception,
            "priced": item.priced,
            "invoice_number": item.invoice_number,
            "erp_document_no": item.erp_document_no,
            "pending_correction": item.pending_correction,
            "version": item.version,
        }
    )


def contract_view(contract: Contract) -> dict[str, Any]:
    return plain_dict(
        {
            "id": contract.business_id,
            "versions": [
                {
                    "status": v.status,
                    "approved_by": v.approved_by,
                    "approved_at": v.approved_at,
                    "proposed_by": v.proposed_by,
                    "reason": v.reason,
                    "terms": v.terms,
                }
                for v in sorted(contract.versions.values(), key=lambda v: v.terms.version)
            ],
            "fee_lines": contract.fee_lines,
            "version": contract.version,
        }
    )


def aggregate_view(aggregate: LedgerAggregate) -> dict[str, Any]:
    """Any aggregate's state as a dict (the specific view where there is one)."""
    if isinstance(aggregate, Invoice):
        return invoice_view(aggregate)
    if isinstance(aggregate, WorkItem):
        return item_view(aggregate)
    if isinstance(aggregate, Contract):
        return contract_view(aggregate)
    state = {
        k: v
        for k, v in vars(aggregate).items()
        if not k.startswith("_") and k not in ("pending_events",)
    }
    return plain_dict({"kind": aggregate.KIND, **state})
