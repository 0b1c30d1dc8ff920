"""A billing run for one contract and one period: BILLING_RULES.md.

Phases, in order: credit notes for corrected invoiced items, the credit
notes and rebills of approved repricings, and re-issues of rejected
invoices (billing_adjustments); pricing of open items with the
retainer draw-down and billing holds (billing_pricing); then the
not-to-exceed cap, tax and grouping into invoices (billing_invoices).

A value that breaks arithmetic (an item's hours, a contract's terms) is the
billing exception `invalid_amount` on the items it touches; the run goes on
(domain.arithmetic).
"""

from __future__ import annotations

from domain.billing_adjustments import credit_corrections, rebill_repriced, reissue_rejected
from domain.billing_context import ContractBook, RunContext
from domain.billing_invoices import invoice_billable
from domain.billing_pricing import price_open_items
from domain.invoice import Invoice

__all__ = ["BillingRun", "ContractBook"]


class BillingRun(RunContext):
    """Bills contracts for one period under one rule set."""

    def bill(self, book: ContractBook) -> list[Invoice]:
        """Run every phase on one contract; the invoices and credit notes drafted."""
        return self.bill_books([book])

    def bill_books(self, books: list[ContractBook]) -> list[Invoice]:
        """Run the phases over several contracts' books together: credit
        notes and re-issues for all of them first, then pricing and invoices
        per contract. An item moved to another contract after it was
        invoiced is credited on its old contract and billed on its new one
        in the same run when both books are given, in any order."""
        drafted = credit_corrections(self, books)
        drafted += rebill_repriced(self, books)
        drafted += reissue_rejected(self, books)
        for book in books:
            price_open_items(self, book)
            drafted += invoice_billable(self, book)
        return drafted
