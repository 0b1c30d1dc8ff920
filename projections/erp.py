"""ERP invoice payloads: the invoice with lines summarised for posting."""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import Any

from domain.invoice import Invoice
from projections.views import invoice_view, plain_dict


def erp_payload(invoice: Invoice) -> dict[str, Any]:
    """Lines summarised by (project, category, unit price), each keeping the
    ids of the work items it stands for."""
    summary: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
    for line in invoice.lines:
        key = (line.get("project_id"), line.get("category"), str(line.get("unit_price")))
        entry = summary.get(key)
        if entry is None:
            entry = summary[key] = {
                "project_id": line.get("project_id"),
                "category": line.get("category"),
                "unit_price": line.get("unit_price"),
                "quantity": Decimal(0),
                "net": Decimal(0),
                "item_ids": [],
                "ledger_lines": [],
            }
        entry["quantity"] += Decimal(line.get("quantity", 0))
        entry["net"] += Decimal(line["net"])
        if line.get("item_id"):
            entry["item_ids"].append(line["item_id"])
        entry["ledger_lines"].append(line.get("line_no"))
    header = invoice_view(invoice, with_lines=False)
    return plain_dict(
        {
            "document_type": "credit_note" if invoice.kind == "credit_note" else "invoice",
            **header,
            "erp_customer_no": invoice.header.get("erp_customer_no"),
            "customer_name": invoice.header.get("customer_name"),
            "lines": [{"line_no": i, **entry} for i, entry in enumerate(summary.values(), 1)],
        }
    )
