"""The CDC pipeline: change source -> decode -> transaction units -> inbox.

One consumed batch becomes one inbox transaction, which also records the
source positions it reaches; offsets (or file positions) are committed only
after it. A source transaction whose records are spread over partitions
that other consumers hold (Debezium writes one topic per table, plus the
transaction topic) is staged durably in the store, piece by piece, shared
by every consumer: whoever's batch brings the last piece applies the whole
transaction. So nothing is held in memory between batches: every offset can
be committed after its batch, a rebalance has nothing to flush, and a
consumer killed at any moment loses nothing.

Two consumers staging the last two pieces at once each look again after
their commit; the later one sees both and applies the transaction (if both
do, the dedup keys make the second a duplicate).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cdc.errors import DecodeError
from cdc.kcat import parse_kcat_line, to_kcat_line
from cdc.records import ChangeEvent, RawRecord, TransactionMarker
from cdc.sources import BadRecord, ChangeSource, Item
from cdc.units import TransactionAssembler, Unit
from domain.errors import InputError
from psledger import dedup_keys, faults
from psledger.inbound import InboundFactory, stored_raws
from psledger.inbox import Clock, Inbound, Inbox, InboxReport
from psledger.ops import metrics
from psledger.store.rows import PositionRow, StagedRow

Piece = tuple[str, int, int]  # (topic, partition, offset)


class DeadLetters(Protocol):
    """Where quarantined records also go (Kafka mode): `<topic>.dlq`."""

    def send(self, item: RawRecord | BadRecord, reason: str, detail: str) -> str: ...


@dataclass
class IngestReport(InboxReport):
    records: int = 0
    skipped: int = 0
    batches: int = 0
    dead_lettered: int = 0
    staged: int = 0  # pieces of incomplete transactions staged in the store
    waiting: list[str] = field(default_factory=list)  # transactions still incomplete at the end
    messages: list[str] = field(default_factory=list)


def _piece(raw: RawRecord) -> Piece:
    return (raw.topic, raw.partition, raw.offset)


class CdcPipeline:
    """Runs a change source through decoding and mapping into the inbox."""

    def __init__(
        self,
        inbox: Inbox,
        factory: InboundFactory,
        clock: Clock,
        dead_letters: DeadLetters | None = None,
    ) -> None:
        self.inbox = inbox
        self.factory = factory
        self.clock = clock
        self.dead_letters = dead_letters

    def with_dead_letters(self, dead_letters: DeadLetters | None) -> CdcPipeline:
        return CdcPipeline(self.inbox, self.factory, self.clock, dead_letters)

    @metrics.observed_ingest
    def run(self, source: ChangeSource, *, flush_incomplete: bool = True) -> IngestReport:
        """Ingest until the source is exhausted. With `flush_incomplete`, the
        transactions this run staged and that are still incomplete at the end
        are applied as found (a finite file that lacks their END); without it
        they stay staged for the consumer that brings their last piece."""
        report = IngestReport()
        report.add(self.inbox.release_waiting())  # what a crash may have left waiting
        self._complete_staged(None, report)
        staged_here: set[str] = set()
        for batch in source.batches():
            report.batches += 1
            report.records += len(batch)
            staged_now = self._ingest(batch, report)
            faults.reached("store_committed")
            source.commit(batch)  # every record is durable: applied, set aside or staged
            faults.reached("offsets_committed")
            if staged_now:
                staged_here.update(staged_now)
                self._complete_staged(staged_now, report)
        still = self._staged_txs(staged_here)
        if still and flush_incomplete:
            self._flush(still, report)
        elif still:
            report.waiting = sorted(still)
        return report

    # -- one batch -----------------------------------------------------------------

    def _ingest(self, batch: list[Item], report: IngestReport) -> set[str]:
        assembler = TransactionAssembler()
        inbound: list[Inbound] = []
        for item in batch:
            inbound.extend(self._take(item, assembler, report))
        staged: list[StagedRow] = []
        held = assembler.held_transactions()
        if held:
            settled = self._settled(held)
            for tx_id, records in self._stored(sorted(settled)).items():
                inbound.append(self._leftover(tx_id, [_piece(r) for r in records]))
            for tx_id in settled:  # delivered again after it was settled
                report.duplicates += 1
                assembler.discard(tx_id)
            inbound.extend(
                self._complete_with_stored(assembler, [t for t in held if t not in settled])
            )
            now = self.clock()
            for tx_id in assembler.held_transactions():
                staged.extend(
                    StagedRow(tx_id, r.topic, r.partition, r.offset, to_kcat_line(r), now)
                    for r in assembler.pieces(tx_id)
                )
        self._apply(inbound, _positions(batch), staged, report)
        report.staged += len(staged)
        return {row.tx_id for row in staged}

    def _take(
        self, item: Item, assembler: TransactionAssembler, report: IngestReport
    ) -> list[Inbound]:
        if isinstance(item, BadRecord):
            return [self.factory.from_bad(item)]
        try:
            decoded = self.factory.decode(item)
        except DecodeError as exc:
            return [self.factory.from_undecodable(item, InputError(exc.detail, reason=exc.reason))]
        if isinstance(decoded, ChangeEvent):
            return [self.factory.from_cdc(unit) for unit in assembler.add_event(decoded)]
        if isinstance(decoded, TransactionMarker):
            return [self.factory.from_cdc(unit) for unit in assembler.add_marker(decoded)]
        report.skipped += 1  # heartbeat or tombstone: nothing to apply
        return []

    def _apply(
        self,
        inbound: list[Inbound],
        positions: Sequence[PositionRow],
        staged: Sequence[StagedRow],
        report: IngestReport,
    ) -> None:
        if not inbound and not positions and not staged:
            return
        result = self.inbox.apply(inbound, positions, staged)
        report.add(result)
        if self.dead_letters is not None:
            for unit, error in result.set_aside:
                for raw in stored_raws(unit):
                    self.dead_letters.send(raw, error.reason, str(error))
                    report.dead_lettered += 1

    # -- staged transactions -------------------------------------------------------

    def _settled(self, tx_ids: Iterable[str]) -> set[str]:
        """Transactions already settled (their END or changes delivered again)."""
        keys = {dedup_keys.transaction_key(tx): tx for tx in tx_ids}
        return {keys[k] for k in self.inbox.dedup_lookup(list(keys))}

    def _stored(self, tx_ids: Sequence[str]) -> dict[str, list[RawRecord]]:
        found: dict[str, list[RawRecord]] = {}
        tables = self.inbox.app.tables
        for start in range(0, len(tx_ids), 500):
            chunk = list(tx_ids[start : start + 500])
            for tx_id, source, _part, position, raw in self.inbox.app.fetch(
                tables.q_staged(len(chunk)), tables.values(chunk)
            ):
                record = parse_kcat_line(bytes(raw), source=str(source), line_no=int(position))
                found.setdefault(str(tx_id), []).append(record)
        return found

    def _complete_with_stored(
        self, assembler: TransactionAssembler, tx_ids: Sequence[str]
    ) -> list[Inbound]:
        """Add the staged pieces of these transactions; the units now complete."""
        if not tx_ids:
            return []
        stored = self._stored(tx_ids)
        units: list[Inbound] = []
        for tx_id, records in stored.items():
            local = {_piece(r) for r in assembler.pieces(tx_id)}
            from_store = [_piece(r) for r in records]
            for record in records:
                if _piece(record) in local:
                    continue
                for unit in self._feed(assembler, record):
                    units.append(self.factory.from_cdc(unit, staged=from_store))
        return units

    def _feed(self, assembler: TransactionAssembler, record: RawRecord) -> list[Unit]:
        decoded = self.factory.decode(record)
        if isinstance(decoded, ChangeEvent):
            return assembler.add_event(decoded)
        if isinstance(decoded, TransactionMarker):
            return assembler.add_marker(decoded)
        return []

    def _staged_txs(self, among: set[str] | None) -> set[str]:
        rows = self.inbox.app.fetch(self.inbox.app.tables.q_staged_txs())
        found = {str(row[0]) for row in rows}
        return found if among is None else found & among

    def _complete_staged(self, tx_ids: set[str] | None, report: IngestReport) -> None:
        """Apply the staged transactions that are complete now; let go of the
        pieces of transactions already settled."""
        pending = sorted(self._staged_txs(tx_ids))
        if not pending:
            return
        assembler = TransactionAssembler()
        settled = self._settled(pending)
        stored = self._stored(pending)
        units: list[Inbound] = []
        for tx_id, records in stored.items():
            pieces = [_piece(r) for r in records]
            if tx_id in settled:
                units.append(self._leftover(tx_id, pieces))
                continue
            for record in records:
                for unit in self._feed(assembler, record):
                    units.append(self.factory.from_cdc(unit, staged=pieces))
        if units:
            self._apply(units, (), (), report)

    def _leftover(self, tx_id: str, pieces: list[Piece]) -> Inbound:
        """Pieces of a transaction settled already: a duplicate that unstages them."""
        marker = dedup_keys.transaction_key(tx_id)
        return Inbound(
            f"staged tx {tx_id}", "staged", 0, 0, b"", dedup_keys=[marker], staged=pieces
        )

    def _flush(self, tx_ids: set[str], report: IngestReport) -> None:
        """Apply incomplete staged transactions as found (the end of a file)."""
        units: list[Inbound] = []
        for records in self._stored(sorted(tx_ids)).values():
            assembler = TransactionAssembler()
            for record in records:
                self._feed(assembler, record)
            pieces = [_piece(r) for r in records]
            for unit in assembler.flush():
                inbound = self.factory.from_cdc(unit, staged=pieces)
                if unit.tx_id is not None:  # settled as found: what waits behind it goes on
                    inbound.marker_keys.append(dedup_keys.transaction_key(unit.tx_id))
                units.append(inbound)
        if units:
            report.messages.append(
                f"{len(units)} transactions without their END record were applied as found"
            )
            self._apply(units, (), (), report)
        report.waiting = sorted(self._staged_txs(tx_ids))


def _positions(batch: list[Item]) -> list[PositionRow]:
    latest: dict[tuple[str, int], int] = {}
    for item in batch:
        pos = item.position
        key = (pos.source, pos.partition)
        latest[key] = max(latest.get(key, -1), pos.offset)
    return [PositionRow(s, p, o) for (s, p), o in latest.items()]
