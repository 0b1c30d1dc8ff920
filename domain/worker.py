"""Worker: role, cost rate and employing legal entity, effective-dated (HR)."""

from __future__ import annotations

from datetime import date
from typing import Any

from eventsourcing.domain import event

from domain.base import LedgerAggregate
from domain.provenance import Provenance


class Worker(LedgerAggregate):
    KIND = "worker"

    @event("Registered")
    def __init__(
        self,
        business_id: str,
        profile: dict[str, Any],
        effective_from: date,
        provenance: Provenance,
    ) -> None:
        self.business_id = business_id
        self.profiles: dict[date, dict[str, Any]] = {effective_from: dict(profile)}

    def record_profile(
        self, profile: dict[str, Any], effective_from: date, provenance: Provenance
    ) -> None:
        """Record the profile in force from a date; a repeat appends nothing."""
        if self.profiles.get(effective_from) != profile:
            self._profile_recorded(
                profile=profile, effective_from=effective_from, provenance=provenance
            )

    @event("ProfileRecorded")
    def _profile_recorded(
        self, profile: dict[str, Any], effective_from: date, provenance: Provenance
    ) -> None:
        self.profiles[effective_from] = dict(profile)

    def profile_on(self, day: date) -> dict[str, Any] | None:
        dates = [d for d in self.profiles if d <= day]
        return self.profiles[max(dates)] if dates else None
