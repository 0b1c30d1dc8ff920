"""What a view writes, and the names its position is kept under.

Kept apart from the views themselves (views.py), which read the domain's
aggregates: a read of views that are caught up needs these names, not the
domain (a CLI read starts without importing the aggregates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from eventsourcing.persistence import Tracking

if TYPE_CHECKING:
    from domain.base import LedgerAggregate

APP_NAME = "psledger"


def tracking_name(view: str) -> str:
    """The name a view's position is tracked under."""
    return f"{APP_NAME}/{view}"


@dataclass
class ViewWrites:
    """One view's rows from one page: upserts by table and key (the last wins),
    and the invoices whose lineage rows are replaced."""

    upserts: dict[str, dict[tuple[Any, ...], tuple[Any, ...]]] = field(default_factory=dict)
    replaced_lineage: set[str] = field(default_factory=set)
    touched: dict[UUID, tuple[LedgerAggregate, int]] = field(default_factory=dict)

    def upsert(self, table: str, key: tuple[Any, ...], row: tuple[Any, ...]) -> None:
        self.upserts.setdefault(table, {})[key] = row

    def count(self) -> int:
        return sum(len(r) for r in self.upserts.values())


class ViewRecorder(Protocol):
    def write(
        self, view: str, writes: ViewWrites, tracking: Tracking, expected: int | None = None
    ) -> bool:
        """Rows and position in one transaction; False (nothing written) if
        the view is not at `expected` (or already at `tracking`)."""

    def max_tracking_id(self, application_name: str) -> int | None: ...
