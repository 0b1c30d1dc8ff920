"""The audit trail of one entity: every event, when, what, who and from where."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from eventsourcing.domain import DomainEvent

from projections.views import plain_dict

HIDDEN = {"originator_id", "originator_version", "originator_topic", "timestamp", "provenance"}


def history_entry(kind: str, business_id: str, event: DomainEvent) -> dict[str, Any]:
    attributes = {k: v for k, v in vars(event).items() if k not in HIDDEN}
    provenance = getattr(event, "provenance", None)
    name = type(event).__qualname__.rsplit(".", 1)[-1]
    return plain_dict(
        {
            "entity": f"{kind}:{business_id}",
            "version": event.originator_version,
            "recorded_at": event.timestamp,
            "business_time": getattr(provenance, "business_time", None),
            "event": name,
            "actor": getattr(provenance, "actor", None),
            "source": provenance.describe() if provenance is not None else None,
            "provenance": provenance,
            "data": attributes,
        }
    )


def history(kind: str, business_id: str, events: Iterable[DomainEvent]) -> list[dict[str, Any]]:
    return [history_entry(kind, business_id, event) for event in events]
