"""Reconcile the ledger against the PSA it is fed from.

Every current PSA row goes through the CDC mapping and is compared with the
ledger's current state for its entity (aggregates loaded through the
application's repository). The report lists rows the ledger lacks, entities
the ledger holds that the source no longer has (and that were not deleted
through CDC), and field drift; for each, what is parked or quarantined for
the entity, as the likely reason. The source's snapshot LSN is compared with
the last LSN the ledger applied: when the ledger is behind, some
differences may be changes still in flight, and the report says so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from cdc.mapping import SourceMapping
from cdc.mapping_config import WORK_ITEMS
from domain.base import LedgerAggregate
from domain.errors import LedgerError
from domain.handlers import ITEM_KINDS
from domain.project import Assignment, Project
from domain.rate_card import RateCard
from domain.work_item import WorkItem
from psledger.audit.compare import Compared, compare
from psledger.audit.ledger_side import LedgerSide
from psledger.audit.psa_source import PsaRows, lsn_text

PAGE = 500

LEDGER_KINDS: dict[str, type[LedgerAggregate]] = {
    "rate_card": RateCard,
    "project": Project,
    "assignment": Assignment,
    **ITEM_KINDS,
}


@dataclass(frozen=True)
class Difference:
    kind: str  # "missing_in_ledger", "missing_in_source", "drift", "unmapped"
    entity: str
    business_id: str
    field: str | None = None
    source: Any = None
    ledger: Any = None
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "entity": self.entity,
            "id": self.business_id,
            "field": self.field,
            "source": _shown(self.source),
            "ledger": _shown(self.ledger),
            "likely_reason": list(self.reasons),
        }


@dataclass
class Report:
    source: str
    tables: list[str]
    rows: int = 0
    matched: int = 0
    snapshot_lsn: int | None = None
    ledger_lsn: int | None = None
    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ledger_behind(self) -> bool:
        return (
            self.snapshot_lsn is not None
            and self.ledger_lsn is not None
            and self.ledger_lsn < self.snapshot_lsn
        )

    @property
    def drift(self) -> int:
        return len(self.differences)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "tables": self.tables,
            "rows": self.rows,
            "matched": self.matched,
            "snapshot_lsn": lsn_text(self.snapshot_lsn),
            "ledger_lsn": lsn_text(self.ledger_lsn),
            "ledger_behind": self.ledger_behind,
            "drift": self.drift,
            "differences": [d.to_dict() for d in self.differences],
            "notes": self.notes,
        }


class Reconciler:
    def __init__(self, side: LedgerSide, mapping: SourceMapping) -> None:
        self.side = side
        self.mapping = mapping

    def run(
        self,
        source: PsaRows,
        tables: Sequence[str],
        progress: Callable[[int], None] | None = None,
    ) -> Report:
        report = Report(source.description, list(tables), snapshot_lsn=source.snapshot_lsn)
        reasons = self.side.reasons(self.mapping)
        seen: set[tuple[str, str]] = set()
        for table in tables:
            for page in _pages(source.rows(table), PAGE):
                for event in page:
                    report.rows += 1
                    self._row(event, report, reasons, seen)
                self.side.forget()
                if progress is not None:
                    progress(report.rows)
        entities: set[str] = {self.mapping.config.tables[t].entity for t in tables}
        self._gone(entities, seen, report, reasons)
        report.ledger_lsn = self.side.last_lsn()
        if not report.differences:
            pass  # nothing to explain
        elif report.ledger_behind:
            report.notes.append(
                f"the ledger is behind the source: it applied changes up to LSN "
                f"{lsn_text(report.ledger_lsn)}, the source snapshot is at LSN "
                f"{lsn_text(report.snapshot_lsn)}; differences on rows changed since may be "
                "changes still in flight (run again once the pipeline has caught up)"
            )
        elif (
            report.snapshot_lsn is not None
            and report.ledger_lsn is not None
            and report.ledger_lsn > report.snapshot_lsn
        ):
            report.notes.append(
                f"the ledger has applied changes after the snapshot (ledger at LSN "
                f"{lsn_text(report.ledger_lsn)}, snapshot at {lsn_text(report.snapshot_lsn)}): "
                "differences may be changes the snapshot does not have yet"
            )
        return report

    def _row(
        self,
        event: Any,
        report: Report,
        reasons: dict[tuple[str, str], list[str]],
        seen: set[tuple[str, str]],
    ) -> None:
        spec = self.mapping.config.tables[event.table]
        row = event.after or {}
        business_id = str(row.get(spec.fields["id"]))
        try:
            commands = self.mapping.commands(event)
        except LedgerError as exc:
            seen.add((spec.entity, business_id))
            why = tuple(reasons.get((spec.entity, business_id), ()))
            report.differences.append(
                Difference("unmapped", spec.entity, business_id, source=str(exc), reasons=why)
            )
            return
        for command in commands:
            found = compare(command, self.side.load)
            key = (found.entity, found.business_id)
            seen.add(key)
            self._record(found, report, tuple(reasons.get(key, ())))

    @staticmethod
    def _record(found: Compared, report: Report, why: tuple[str, ...]) -> None:
        if not found.found:
            report.differences.append(
                Difference("missing_in_ledger", found.entity, found.business_id, reasons=why)
            )
        elif not found.drift:
            report.matched += 1
        for d in found.drift:
            report.differences.append(
                Difference(
                    "drift", found.entity, found.business_id, d.field, d.source, d.ledger, why
                )
            )

    def _gone(
        self,
        entities: set[str],
        seen: set[tuple[str, str]],
        report: Report,
        reasons: dict[tuple[str, str], list[str]],
    ) -> None:
        """Entities the ledger holds that the source no longer has."""
        deleted = self.side.deleted_through_cdc(self.mapping)
        for kind, cls in LEDGER_KINDS.items():
            want_lines = kind == "rate_card" and "rate_line" in entities
            if kind not in entities and not want_lines:
                continue
            for page in _pages(self.side.business_ids(kind), PAGE):
                for business_id in page:
                    if kind in entities and (kind, business_id) not in seen:
                        self._gone_one(kind, cls, business_id, deleted, report, reasons)
                    if want_lines:
                        card = self.side.load(RateCard, business_id)
                        for line_id in card.lines if isinstance(card, RateCard) else ():
                            if ("rate_line", line_id) not in seen:
                                report.differences.append(
                                    Difference(
                                        "missing_in_source",
                                        "rate_line",
                                        line_id,
                                        reasons=(f"a line of rate card {business_id}",),
                                    )
                                )
                self.side.forget()

    def _gone_one(
        self,
        kind: str,
        cls: type[LedgerAggregate],
        business_id: str,
        deleted: set[tuple[str, str]],
        report: Report,
        reasons: dict[tuple[str, str], list[str]],
    ) -> None:
        if kind in WORK_ITEMS:
            item = self.side.load(cls, business_id)
            if isinstance(item, WorkItem) and item.withdrawn:
                return  # deleted (or cancelled) through CDC
        elif (kind, business_id) in deleted:
            return  # deleted through CDC; the ledger keeps it closed, by design
        report.differences.append(
            Difference(
                "missing_in_source",
                kind,
                business_id,
                reasons=tuple(reasons.get((kind, business_id), ())),
            )
        )


def _pages(items: Iterator[Any] | Any, size: int) -> Iterator[list[Any]]:
    page: list[Any] = []
    for item in items:
        page.append(item)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


def _shown(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


__all__ = ["Difference", "Reconciler", "Report"]
