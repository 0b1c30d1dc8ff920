"""Customer: the CRM's account, as far as billing needs it."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import event

from domain.base import DetailedAggregate
from domain.provenance import Provenance


class Customer(DetailedAggregate):
    KIND = "customer"

    @event("Registered")
    def __init__(self, business_id: str, details: dict[str, Any], provenance: Provenance) -> None:
        self.business_id = business_id
        self.details = dict(details)

    @property
    def payment_terms_days(self) -> int:
        return int(self.details.get("payment_terms_days", 30))

    @property
    def name(self) -> str:
        return str(self.details.get("name", self.business_id))
