"""CDC ingestion: change source -> decode -> transaction units -> mapping -> intake.

One consumed batch becomes one intake transaction. Offsets (or file
positions) are committed only after it; records held in an incomplete
source transaction are not committed past, so a crash re-delivers them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import orjson

from cdc.errors import DecodeError
from cdc.kcat import parse_kcat_line, to_kcat_line
from cdc.mapping import SourceMapping
from cdc.records import ChangeEvent, Decoded, RawRecord, SourcePosition, TransactionMarker
from cdc.sources import BadRecord, ChangeSource, Item
from cdc.units import TransactionAssembler, Unit
from domain.errors import InputError, LedgerError
from psledger.intake import Inbound, Intake, IntakeReport
from psledger.store.rows import ParkedRow, PositionRow

Decoder = Callable[[RawRecord], Decoded]


class DeadLetters(Protocol):
    """Where quarantined records also go (Kafka mode): `<topic>.dlq`."""

    def send(self, item: RawRecord | BadRecord, reason: str, detail: str) -> str: ...


def dedup_key(event: ChangeEvent) -> str:
    """Source identity of a change: table, key, op, LSN and transaction id;
    snapshot reads use a hash of the row instead (a re-snapshot of an
    unchanged row is the same read)."""
    key = orjson.dumps(event.key, default=str, option=orjson.OPT_SORT_KEYS).decode()
    table = f"{event.schema}.{event.table}"
    if event.is_snapshot or event.op == "r":
        row = orjson.dumps(event.after, default=str, option=orjson.OPT_SORT_KEYS)
        return f"cdc:{table}:{key}:r:{hashlib.sha256(row).hexdigest()[:32]}"
    if event.lsn is None:
        return f"cdc:{table}:{key}:{event.op}:{event.raw.topic}:{event.raw.offset}"
    return f"cdc:{table}:{key}:{event.op}:{event.lsn}:{event.tx_id}"


def tx_marker_key(tx_id: str) -> str:
    """Recorded once a source transaction is settled (applied, parked or
    quarantined): its END marker, delivered again, is then let go."""
    return f"cdc:tx:{tx_id}"


@dataclass
class IngestReport(IntakeReport):
    records: int = 0
    skipped: int = 0
    batches: int = 0
    dead_lettered: int = 0
    messages: list[str] = field(default_factory=list)


class CdcIngestor:
    """Runs a change source through decoding, mapping and the intake."""

    def __init__(
        self,
        intake: Intake,
        mapping: SourceMapping,
        decoder: Decoder,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.intake = intake
        self.mapping = mapping
        self.decode = decoder
        self.dead_letters = dead_letters

    def run(self, source: ChangeSource, *, flush_incomplete: bool = True) -> IngestReport:
        """Ingest until the source is exhausted. With `flush_incomplete`, the
        changes of transactions still incomplete at the end are applied (a
        finite file); without it they stay uncommitted at the source, to be
        delivered again (Kafka)."""
        report = IngestReport()
        assembler = TransactionAssembler()
        for batch in source.batches():
            report.batches += 1
            report.records += len(batch)
            inbound: list[Inbound] = []
            for item in batch:
                inbound.extend(self._take(item, assembler, report))
            self._apply(inbound, _positions(batch), report)
            self._forget_settled(assembler)
            source.commit(self._committable(source, batch, assembler))
        leftovers = assembler.flush()
        if leftovers and flush_incomplete:
            report.messages.append(
                f"{len(leftovers)} transactions without their END record were applied as found"
            )
            self._apply([self._inbound(unit) for unit in leftovers], (), report)
        return report

    def _take(
        self, item: Item, assembler: TransactionAssembler, report: IngestReport
    ) -> list[Inbound]:
        if isinstance(item, BadRecord):
            pos = item.position
            return [
                Inbound(
                    f"{pos.source}[{pos.partition}@{pos.offset}]",
                    pos.source,
                    pos.partition,
                    pos.offset,
                    item.raw,
                    error=InputError(item.detail, reason=item.reason),
                )
            ]
        try:
            decoded = self.decode(item)
        except DecodeError as exc:
            return [_raw_inbound(item, InputError(exc.detail, reason=exc.reason))]
        if isinstance(decoded, ChangeEvent):
            return [self._inbound(unit) for unit in assembler.add_event(decoded)]
        if isinstance(decoded, TransactionMarker):
            return [self._inbound(unit) for unit in assembler.add_marker(decoded)]
        report.skipped += 1  # heartbeat or tombstone: nothing to apply
        return []

    def _forget_settled(self, assembler: TransactionAssembler) -> None:
        """Drop END markers (re-delivered after a restart) of transactions the
        ledger already settled, so they do not hold back the offsets."""
        orphans = {tx_marker_key(tx): tx for tx in assembler.ended_without_events()}
        if orphans:
            for key in self.intake.ledger.dedup_lookup(list(orphans)):
                assembler.discard(orphans[key])

    def _inbound(self, unit: Unit) -> Inbound:
        first = unit.records[0].raw
        label = f"{first.topic}[{first.partition}@{first.offset}]"
        if unit.tx_id is not None:
            label += f" tx {unit.tx_id} ({len(unit.records)} changes)"
        inbound = Inbound(
            label,
            first.topic,
            first.partition,
            first.offset,
            b"".join(to_kcat_line(raw) for raw in unit.raws),
            record_key=first.key.decode("utf-8", "replace") if first.key else None,
            dedup_keys=[dedup_key(event) for event in unit.records],
        )
        if unit.tx_id is not None and unit.complete:
            inbound.marker_keys.append(tx_marker_key(unit.tx_id))
        try:
            for event in unit.records:
                inbound.commands.extend(self.mapping.commands(event))
        except LedgerError as exc:
            inbound.error = exc
        return inbound

    def _apply(
        self, inbound: list[Inbound], positions: Sequence[PositionRow], report: IngestReport
    ) -> None:
        if not inbound and not positions:
            return
        result = self.intake.apply(inbound, positions)
        report.add(result)
        if self.dead_letters is not None:
            for unit, error in result.set_aside:
                for raw in _raws(unit):
                    self.dead_letters.send(raw, error.reason, str(error))
                    report.dead_lettered += 1

    @staticmethod
    def _committable(
        source: ChangeSource, batch: list[Item], assembler: TransactionAssembler
    ) -> list[Item]:
        """The batch, less what lies at or after a record still held in an
        incomplete transaction (Kafka re-delivers it after a crash)."""
        held: dict[tuple[str, int], int] = {}
        for raw in assembler.held_positions():
            tp = (raw.topic, raw.partition)
            held[tp] = min(held.get(tp, raw.offset), raw.offset)
        if not held or not getattr(source, "partial_commits", False):
            return batch
        return [
            item
            for item in batch
            if not isinstance(item, RawRecord)
            or item.offset < held.get((item.topic, item.partition), item.offset + 1)
        ]

    # -- replay of parked and quarantined units --------------------------------

    def reparse(self, raw: bytes, source: str) -> Inbound:
        """A unit again from its stored bytes (kcat lines)."""
        records: list[ChangeEvent] = []
        for n, line in enumerate(raw.splitlines(), start=1):
            if not line.strip():
                continue
            decoded = self.decode(parse_kcat_line(line, source=source, line_no=n))
            if isinstance(decoded, ChangeEvent):
                records.append(decoded)
        if not records:
            raise InputError(f"{source}: no change events in the stored record", reason="empty")
        tx_ids = {event.tx_id for event in records}
        return self._inbound(Unit(records, next(iter(tx_ids)) if len(tx_ids) == 1 else None))

    def reparse_parked(self, rows: list[ParkedRow]) -> list[Inbound]:
        units = []
        for row in rows:
            try:
                unit = self.reparse(row.raw, row.source)
            except (DecodeError, LedgerError) as exc:
                reason = getattr(exc, "reason", "invalid_input")
                unit = Inbound(
                    row.id,
                    row.source,
                    row.partition,
                    row.offset,
                    row.raw,
                    error=InputError(str(exc), reason=reason),
                )
            unit.parked_id = row.id
            units.append(unit)
        return units


def _raw_inbound(raw: RawRecord, error: LedgerError) -> Inbound:
    return Inbound(
        f"{raw.topic}[{raw.partition}@{raw.offset}]",
        raw.topic,
        raw.partition,
        raw.offset,
        to_kcat_line(raw),
        error=error,
        record_key=raw.key.decode("utf-8", "replace") if raw.key else None,
    )


def _raws(unit: Inbound) -> list[RawRecord | BadRecord]:
    try:
        return [
            parse_kcat_line(line, source=unit.source, line_no=n)
            for n, line in enumerate(unit.raw.splitlines(), start=1)
            if line.strip()
        ]
    except DecodeError:
        return [
            BadRecord(
                SourcePosition(unit.source, unit.partition, unit.offset),
                unit.raw,
                "unreadable",
                unit.label,
            )
        ]


def _positions(batch: list[Item]) -> list[PositionRow]:
    latest: dict[tuple[str, int], int] = {}
    for item in batch:
        pos = item.position
        key = (pos.source, pos.partition)
        latest[key] = max(latest.get(key, -1), pos.offset)
    return [PositionRow(s, p, o) for (s, p), o in latest.items()]
