"""Project and assignment: the PSA's delivery structure."""

from __future__ import annotations

from typing import Any

from eventsourcing.domain import event

from domain.base import DetailedAggregate
from domain.errors import InputError
from domain.provenance import Provenance

PROJECT_STATUSES = ("active", "on_hold", "closed")


class Project(DetailedAggregate):
    """A PSA project under a CRM contract; `on_hold` puts billing on hold."""

    KIND = "project"

    @event("Registered")
    def __init__(self, business_id: str, details: dict[str, Any], provenance: Provenance) -> None:
        self.business_id = business_id
        self.details = dict(details)

    @property
    def contract_id(self) -> str:
        return str(self.details["contract_id"])

    @property
    def legal_entity(self) -> str:
        return str(self.details["legal_entity"])

    @property
    def status(self) -> str:
        return str(self.details.get("status", "active"))

    @staticmethod
    def check_details(business_id: str, details: dict[str, Any]) -> None:
        """Refuse details no project can have (before any event)."""
        status = details.get("status", "active")
        if status not in PROJECT_STATUSES:
            raise InputError(f"project {business_id}: unknown status {status!r}")
        for name in ("contract_id", "legal_entity"):
            if not details.get(name):
                raise InputError(f"project {business_id}: missing {name}")


class Assignment(DetailedAggregate):
    """A worker's planned hours on a project."""

    KIND = "assignment"

    @event("Registered")
    def __init__(self, business_id: str, details: dict[str, Any], provenance: Provenance) -> None:
        self.business_id = business_id
        self.details = dict(details)
