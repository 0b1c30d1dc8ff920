"""Expense item: an amount a worker incurred, billed with the contract's markup."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from domain.provenance import Provenance
from domain.work_item import WorkItem


class ExpenseItem(WorkItem):
    KIND = "expense_item"
    FINANCIAL_FIELDS = ("amount", "currency", "incurred_on", "category", "billable")

    @event("Captured")
    def __init__(self, business_id: str, fields: dict[str, Any], provenance: Provenance) -> None:
        self._init_item(business_id, fields, provenance)

    @property
    def item_date(self) -> date:
        value = self.fields["incurred_on"]
        assert isinstance(value, date)
        return value

    @property
    def amount(self) -> Decimal:
        return Decimal(self.fields["amount"])

    @property
    def currency(self) -> str:
        return str(self.fields["currency"])
