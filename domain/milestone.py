"""Milestone: a fixed amount billed when the customer accepts it."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from domain.provenance import Provenance
from domain.work_item import WorkItem


class Milestone(WorkItem):
    """Approval of a milestone is the customer's acceptance."""

    KIND = "milestone"
    FINANCIAL_FIELDS = ("amount", "currency")

    @event("Captured")
    def __init__(self, business_id: str, fields: dict[str, Any], provenance: Provenance) -> None:
        self._init_item(business_id, fields, provenance)

    @property
    def item_date(self) -> date | None:
        """The acceptance date."""
        if isinstance(self.approved_at, datetime):
            return self.approved_at.date()
        accepted = self.fields.get("accepted_at")
        return accepted.date() if isinstance(accepted, datetime) else None

    @property
    def amount(self) -> Decimal:
        return Decimal(self.fields["amount"])

    @property
    def currency(self) -> str:
        return str(self.fields["currency"])
