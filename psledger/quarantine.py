"""Quarantine: list, show, replay and discard what could not be applied."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cdc.webhooks import parse_webhook
from domain.errors import LedgerError, TransitionRefused, UnknownEntity
from psledger.app import UnitOfWork
from psledger.ingest import CdcIngestor
from psledger.intake import Inbound, Intake, IntakeReport
from psledger.store.rows import QuarantineRow

WEBHOOK_PREFIX = "webhook:"


def _row(v: tuple[Any, ...]) -> QuarantineRow:
    return QuarantineRow(
        str(v[0]),
        str(v[1]),
        int(v[2]),
        int(v[3]),
        None if v[4] is None else str(v[4]),
        bytes(v[5]),
        str(v[6]),
        str(v[7]),
        datetime.fromisoformat(str(v[8])),
        str(v[9]),
    )


class Quarantine:
    """Operator view of quarantined records; replay goes through the intake."""

    def __init__(self, intake: Intake, ingestor: CdcIngestor) -> None:
        self.intake = intake
        self.ingestor = ingestor
        self.app = intake.app

    def list(self, status: str = "open") -> list[QuarantineRow]:
        return [_row(r) for r in self.app.fetch(self.app.tables.q_quarantine(False), (status,))]

    def show(self, row_id: str) -> QuarantineRow:
        rows = self.app.fetch(self.app.tables.q_quarantine(True), (row_id,))
        if not rows:
            raise UnknownEntity(f"no quarantined record {row_id!r}")
        return _row(rows[0])

    def record(
        self,
        source: str,
        raw: bytes,
        error: LedgerError,
        record_key: str | None = None,
    ) -> IntakeReport:
        """Quarantine a record refused before apply (e.g. an invalid webhook body)."""
        unit = Inbound(
            f"{source} {record_key or ''}".strip(),
            source,
            0,
            0,
            raw,
            record_key=record_key,
            error=error,
        )
        return self.intake.apply([unit])

    def replay(self, row_id: str) -> IntakeReport:
        """Apply the record again; it leaves quarantine only if it now applies."""
        row = self.show(row_id)
        if row.status != "open":
            raise TransitionRefused(f"quarantined record {row_id}", row.status, "act on it")
        unit = self._unit(row)
        unit.quarantine_id = row.id
        return self.intake.apply([unit])

    def discard(self, row_id: str, by: str) -> None:
        row = self.show(row_id)
        if row.status != "open":
            raise TransitionRefused(f"quarantined record {row_id}", row.status, "act on it")
        uow = UnitOfWork(self.app)
        uow.rows.quarantine_status.append((row.id, f"discarded by {by}"))
        uow.commit()

    def _unit(self, row: QuarantineRow) -> Inbound:
        if row.source.startswith(WEBHOOK_PREFIX):
            unit = Inbound(
                f"{row.source} {row.record_key}",
                row.source,
                0,
                0,
                row.raw,
                record_key=row.record_key,
            )
            try:
                _, command = parse_webhook(
                    row.raw,
                    expected_source=row.source[len(WEBHOOK_PREFIX) :] or None,
                    delivery_id=row.record_key,
                )
            except LedgerError as exc:
                unit.error = exc
                return unit
            unit.commands = [command]
            unit.dedup_keys = [
                f"webhook:{command.provenance.source_system}:{command.provenance.delivery_id}"
            ]
            return unit
        try:
            return self.ingestor.reparse(row.raw, row.source)
        except (LedgerError, ValueError) as exc:
            reason = getattr(exc, "reason", "invalid_input")
            return Inbound(
                row.id,
                row.source,
                row.partition,
                row.offset,
                row.raw,
                error=LedgerError(str(exc), reason=reason),
            )
