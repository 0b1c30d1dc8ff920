"""What one billing run works on: a contract's book and the run's context.

A run works on aggregates already loaded and calls their commands; the
caller saves every touched aggregate in one transaction, so a run is all or
nothing.

An item bills under its current project's current contract: a book prices
and invoices only the items whose project is one of its projects and is
under its contract. A book also holds the items on its invoices
(`invoiced_items`), so that one moved away is credited (or re-issued) on
the contract that invoiced it; such items are never billed here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from domain.contract import Contract, ContractTerms
from domain.customer import Customer
from domain.expense_item import ExpenseItem
from domain.invoice import Invoice
from domain.milestone import Milestone
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

_ITEM_KINDS = frozenset({TimeEntry.KIND, ExpenseItem.KIND, Milestone.KIND})


@dataclass
class ContractBook:
    """Everything one contract's billing run reads and may change.

    `projects`: the projects now under the contract; `items`: their items
    (and may hold items moved away, see the module docstring); `invoices`:
    the contract's invoices and credit notes; `rate_cards`: the cards its
    versions name; `pending`: the items with a later source change that is
    parked or staged (not billed until it is applied or expires).
    """

    contract: Contract
    customer: Customer | None
    projects: dict[str, Project]
    items: list[WorkItem]
    invoices: dict[str, Invoice]
    rate_cards: dict[str, RateCard]
    pending: frozenset[str] = frozenset()  # kind:id of items with a source change waiting

    def bills(self, item: WorkItem) -> bool:
        """Whether the item bills under this book's contract now."""
        project = self.projects.get(item.project_id)
        return project is not None and project.contract_id == self.contract.business_id


def invoiced_items(invoices: Iterable[Invoice]) -> list[tuple[str, str]]:
    """(kind, item id) of the work items on these invoices, each once.

    A contract's book must hold these besides its projects' items: an item
    moved to another contract since (or whose project moved) is credited,
    or re-issued after an ERP rejection, on the contract that invoiced it.
    The run bills none of them under this contract unless its project is
    still one of the book's."""
    refs: dict[tuple[str, str], None] = {}
    for invoice in invoices:
        for line in invoice.lines:
            kind, item_id = line.get("item_kind"), line.get("item_id")
            if item_id and kind in _ITEM_KINDS:
                refs[(str(kind), str(item_id))] = None
    return list(refs)


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
                and book.bills(item)
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
        """The item's invoice lines, each pointing at the source change whose
        values it bills (`source`, `source_record`) and at the approval
        (`approval_source`, `approval_record`, `approved_by`, `approved_at`)."""
        source, approval = item.source, item.approval
        return [
            {
                **priced,
                "project_id": item.project_id,
                "description": priced.get("description") or _describe(item),
                "source": source.describe() if source else None,
                "source_record": source.to_dict() if source else None,
                "approved_by": item.approved_by,
                "approved_at": item.approved_at,
                "approval_source": approval.describe() if approval else None,
                "approval_record": approval.to_dict() if approval else None,
            }
            for priced in item.priced
        ]


def _describe(item: WorkItem) -> str:
    if isinstance(item, TimeEntry):
        return f"{item.role} {item.hours}h on {item.item_date}"
    if isinstance(item, ExpenseItem):
        return f"{item.fields.get('category', 'expense')} {item.amount} {item.currency}"
    return str(item.fields.get("name", item.business_id))
