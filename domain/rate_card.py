"""Rate card: hourly rates per role, effective-dated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from eventsourcing.domain import event

from domain.base import LedgerAggregate
from domain.errors import InputError
from domain.provenance import Provenance


@dataclass(frozen=True)
class RateLine:
    line_id: str
    role: str
    hourly_rate: Decimal
    effective_from: date
    effective_to: date | None  # inclusive; None is open-ended

    def covers(self, day: date) -> bool:
        return self.effective_from <= day and (
            self.effective_to is None or day <= self.effective_to
        )


class RateCard(LedgerAggregate):
    KIND = "rate_card"

    @event("Registered")
    def __init__(self, business_id: str, name: str, currency: str, provenance: Provenance) -> None:
        self.business_id = business_id
        self.name = name
        self.currency = currency
        self.lines: dict[str, RateLine] = {}

    def rename(self, name: str, currency: str, provenance: Provenance) -> None:
        if (name, currency) != (self.name, self.currency):
            self._renamed(name=name, currency=currency, provenance=provenance)

    @event("Renamed")
    def _renamed(self, name: str, currency: str, provenance: Provenance) -> None:
        self.name = name
        self.currency = currency

    def set_line(self, line: RateLine, provenance: Provenance) -> None:
        """Add or change a role line; an identical line appends nothing."""
        if line.hourly_rate < 0:
            raise InputError(f"rate card line {line.line_id}: negative hourly rate")
        if line.effective_to is not None and line.effective_to < line.effective_from:
            raise InputError(f"rate card line {line.line_id}: effective_to before effective_from")
        if self.lines.get(line.line_id) != line:
            self._line_set(
                line_id=line.line_id,
                role=line.role,
                hourly_rate=line.hourly_rate,
                effective_from=line.effective_from,
                effective_to=line.effective_to,
                provenance=provenance,
            )

    @event("LineSet")
    def _line_set(
        self,
        line_id: str,
        role: str,
        hourly_rate: Decimal,
        effective_from: date,
        effective_to: date | None,
        provenance: Provenance,
    ) -> None:
        self.lines[line_id] = RateLine(line_id, role, hourly_rate, effective_from, effective_to)

    def remove_line(self, line_id: str, provenance: Provenance) -> None:
        if line_id in self.lines:
            self._line_removed(line_id=line_id, provenance=provenance)

    @event("LineRemoved")
    def _line_removed(self, line_id: str, provenance: Provenance) -> None:
        del self.lines[line_id]

    def rate_for(self, role: str, on: date) -> RateLine | None:
        """The line for the role whose [effective_from, effective_to] contains
        the date; of overlapping lines, the one that started last."""
        matches = [ln for ln in self.lines.values() if ln.role == role and ln.covers(on)]
        if not matches:
            return None
        return max(matches, key=lambda ln: (ln.effective_from, ln.line_id))
