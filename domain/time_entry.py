"""Time entry: hours a worker spent on a project in a role on a date."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.domain import event

from domain.provenance import Provenance
from domain.work_item import WorkItem


class TimeEntry(WorkItem):
    KIND = "time_entry"
    FINANCIAL_FIELDS = ("hours", "role", "work_date", "billable")

    @event("Captured")
    def __init__(self, business_id: str, fields: dict[str, Any], provenance: Provenance) -> None:
        self._init_item(business_id, fields, provenance)

    @property
    def item_date(self) -> date:
        value = self.fields["work_date"]
        assert isinstance(value, date)
        return value

    @property
    def hours(self) -> Decimal:
        return Decimal(self.fields["hours"])

    @property
    def role(self) -> str:
        return str(self.fields["role"])
