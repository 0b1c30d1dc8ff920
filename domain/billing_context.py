"""What one billing run works on: a contract's book and the run's context.

A run works on aggregates already loaded and calls their commands; the
caller saves every touched aggregate in one transaction, so a run is all or
nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.contract import Contract, ContractTerms
from domain.customer import Customer
from domain.expense_item import ExpenseItem
from domain.invoice import Invoice
from domain.period import Period
from domain.pricing import (
    Line,
)
from domain.project import Project
from domain.provenance import Provenance
from domain.rate_card import RateCard
from domain.rules import RuleSet
from domain.time_entry import TimeEntry
from domain.work_item import APPROVED, BILLABLE, WorkItem


@dataclass
class ContractBook:
    """Everything one contract's billing run reads and may change."""

    contract: Contract
    customer: Customer | None
    projects: dict[str, Project]
    items: list[WorkItem]
    invoices: dict[str, Invoice]
    rate_cards: dict[str, RateCard]


def item_order(item: WorkItem) -> tuple[date, str]:
    """Items are taken in (item date, item id) order."""
    return (item.item_date or date.max, item.business_id)


class RunContext:
    """The period, rules and provenance of a run, and what its phases share."""

    def __init__(self, period: Period, rules: RuleSet, provenance: Provenance) -> None:
        self.period = period
        self.rules = rules
        self.provenance = provenance.with_rule_version(rules.version)

    def open_items(self, book: ContractBook) -> list[WorkItem]:
        last = self.period.last_day
        return sorted(
            (
                item
                for item in book.items
                if item.state in (APPROVED, BILLABLE)
                and not item.withdrawn
                and item.reissue_of is None
                and item.is_billable_kind
                and item.item_date is not None
                and item.item_date <= last
            ),
            key=item_order,
        )

    def header(
        self,
        book: ContractBook,
        terms: ContractTerms,
        kind: str,
        legal_entity: str,
        invoice_date: date,
        tax_rate: Decimal,
        **extra: Any,
    ) -> dict[str, Any]:
        customer = book.customer
        terms_days = customer.payment_terms_days if customer else 30
        return {
            "kind": kind,
            "contract_id": book.contract.business_id,
            "contract_version": terms.version,
            "customer_id": terms.customer_id,
            "customer_name": customer.name if customer else terms.customer_id,
            "erp_customer_no": customer.details.get("erp_customer_no") if customer else None,
            "legal_entity": legal_entity,
            "period": str(self.period),
            "invoice_date": invoice_date,
            "due_date": invoice_date + timedelta(days=terms_days),
            "currency": terms.currency,
            "tax_code": terms.tax_code,
            "tax_rate": tax_rate,
            "po_number": terms.po_number,
            "rule_version": self.rules.version,
            "billing_run": self.provenance.record_id,
            **extra,
        }

    def draft(
        self, book: ContractBook, number: str, header: dict[str, Any], lines: list[Line]
    ) -> Invoice:
        invoice = Invoice.draft(number, header, lines, self.provenance)
        invoice.issue(self.provenance)
        book.invoices[number] = invoice
        return invoice

    def item_lines(self, item: WorkItem, book: ContractBook) -> list[Line]:
        source = item.source
        return [
            {
                **priced,
                "project_id": item.project_id,
                "description": priced.get("description") or _describe(item),
                "source": source.describe() if source else None,
                "source_record": source.to_dict() if source else None,
                "approved_by": item.approved_by,
            }
            for priced in item.priced
        ]


def _describe(item: WorkItem) -> str:
    if isinstance(item, TimeEntry):
        return f"{item.role} {item.hours}h on {item.item_date}"
    if isinstance(item, ExpenseItem):
        return f"{item.fields.get('category', 'expense')} {item.amount} {item.currency}"
    return str(item.fields.get("name", item.business_id))
