"""Base aggregate: business identity, deterministic ids and provenance."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, ClassVar
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.provenance import Provenance

NAMESPACE = uuid5(NAMESPACE_URL, "https://psledger.example/entities")


@lru_cache(maxsize=65536)
def aggregate_id(kind: str, business_id: str) -> UUID:
    """The aggregate id of an entity, from its kind and business id."""
    return uuid5(NAMESPACE, f"{kind}:{business_id}")


class LedgerAggregate(Aggregate):
    """An aggregate keyed by its business id (e.g. SOW-1042, TE-1).

    Subclasses set KIND; every event they trigger carries a `provenance`.
    """

    KIND: ClassVar[str] = ""
    business_id: str

    @classmethod
    def create_id(cls, business_id: str) -> UUID:
        """eventsourcing asks for a new aggregate's id: derived, never random."""
        return aggregate_id(cls.KIND, business_id)

    @classmethod
    def id_for(cls, business_id: str) -> UUID:
        """The aggregate id of the entity with this business id."""
        return cls.create_id(business_id)

    @property
    def label(self) -> str:
        return f"{self.KIND.replace('_', ' ')} {self.business_id}"

    @staticmethod
    def changed_fields(current: dict[str, Any], incoming: dict[str, Any]) -> dict[str, Any]:
        """The fields of `incoming` whose values differ from `current`."""
        return {k: v for k, v in incoming.items() if current.get(k) != v}


class DetailedAggregate(LedgerAggregate):
    """An aggregate whose state is a flat record of details from its source."""

    details: dict[str, Any]

    def update(self, details: dict[str, Any], provenance: Provenance) -> None:
        """Record the changed details; identical details append nothing."""
        changes = self.changed_fields(self.details, details)
        if changes:
            self._updated(changes=changes, provenance=provenance)

    @event("Updated")
    def _updated(self, changes: dict[str, Any], provenance: Provenance) -> None:
        self.details.update(changes)
