"""Where each record of an ingest run ended, counted in records.

The inbox decides units (a source transaction is one unit of several
records); an operator reads records. `RecordTally` follows every record a
run consumes to one end, so that

    records = applied + duplicate + superseded + skipped + parked
              + quarantined + staged

where skipped is what carries nothing to apply (transaction BEGIN/END
markers, heartbeats, tombstones) and staged is the pieces of transactions
still waiting for records this run did not receive. Parked units released
during the run are counted apart, in units.

It wraps the pipeline's parts (source, decoder, inbox) without changing
what they decide.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from cdc.records import ChangeEvent, Decoded, RawRecord
from cdc.sources import Batch, ChangeSource, Item
from cdc.units import transaction_key
from psledger import dedup_keys
from psledger.inbound import InboundFactory, stored_raws
from psledger.inbox import Inbound, Inbox, InboxReport
from psledger.pipeline import CdcPipeline, IngestReport
from psledger.store.rows import PositionRow, StagedRow

Piece = tuple[str, int, int]
ENDS = ("applied", "duplicate", "superseded", "skipped", "parked", "quarantined", "staged")
FINAL = frozenset(ENDS) - {"staged"}
Progress = Callable[[int], None]


def _piece(item: Item | RawRecord) -> Piece:
    pos = item.position
    return (pos.source, pos.partition, pos.offset)


class RecordTally:
    """Each record of the run, by where it ended (see the module docstring)."""

    def __init__(self) -> None:
        self.records = 0
        self.counts: Counter[str] = Counter()
        self.unaccounted = 0
        self._status: dict[Piece, str] = {}  # this run's records not settled yet
        self._copies: Counter[Piece] = Counter()  # a record delivered twice in one run
        self._tx: dict[Piece, str] = {}  # change -> its source transaction's dedup key

    # -- what the wrapped parts report ------------------------------------------

    def consumed(self, batch: Sequence[Item]) -> None:
        self.records += len(batch)
        for item in batch:
            piece = _piece(item)
            self._copies[piece] += 1
            self._status.setdefault(piece, "")

    def decoded(self, raw: RawRecord, decoded: Decoded) -> None:
        piece = _piece(raw)
        if self._status.get(piece) != "":
            return  # not this run's, or already settled
        if isinstance(decoded, ChangeEvent):
            if decoded.transaction is not None:
                key = transaction_key(decoded.transaction.id)
                self._tx[piece] = dedup_keys.transaction_key(key)
        else:  # a transaction marker, heartbeat or tombstone: nothing to apply
            self._status[piece] = "skipped"

    def decided(
        self, units: Sequence[Inbound], report: InboxReport, staged: Sequence[StagedRow]
    ) -> None:
        for row in staged:
            self._mark((row.source, row.partition, row.offset), "staged")
        for unit, outcome in zip(units, report.outcomes, strict=False):
            for raw in stored_raws(unit):
                self._mark(_piece(raw), outcome.status)
            for piece in unit.staged:
                if self._status.get(piece) == "staged":
                    self._mark(piece, "skipped")  # a staged END marker: its changes count

    def _mark(self, piece: Piece, status: str) -> None:
        if piece in self._status:
            self._status[piece] = status

    # -- settling ------------------------------------------------------------------

    def settle(self, lookup: Callable[[list[str]], dict[str, str]], final: bool) -> None:
        """Count the records that reached their end; at the end of the run,
        changes of transactions settled before (delivered again) are
        duplicates, what is staged stays staged."""
        loose = {p: self._tx[p] for p, s in self._status.items() if s == "" and p in self._tx}
        if loose:
            settled = lookup(sorted(set(loose.values())))
            for piece, key in loose.items():
                if key in settled:
                    self._status[piece] = "duplicate"
        for piece, status in list(self._status.items()):
            if status in FINAL or (final and status == "staged"):
                self.counts[status] += self._copies.pop(piece)
                del self._status[piece]
                self._tx.pop(piece, None)
        if final:
            self.unaccounted = sum(self._copies[p] for p in self._status)

    def line(self, report: InboxReport) -> str:
        """The run's counts, in records."""
        parts = ", ".join(f"{self.counts[end]} {end}" for end in ENDS)
        text = f"{self.records} records: {parts}"
        if self.unaccounted:
            text += f", {self.unaccounted} unaccounted"
        if report.released:
            text += f"; {report.released} parked units released"
        return text + f"; {report.events} events appended"


class _TallySource:
    """The source as it was, telling the tally (and a progress bar) what it hands out."""

    def __init__(
        self, source: ChangeSource, tally: RecordTally, settle: Callable[[], None], tick: Progress
    ) -> None:
        self.source, self.tally, self.settle, self.tick = source, tally, settle, tick

    def batches(self) -> Iterator[list[Item]]:
        for batch in self.source.batches():
            self.settle()
            self.tally.consumed(batch)
            yield batch
            self.tick(len(batch))

    def commit(self, batch: Batch) -> None:
        self.source.commit(batch)

    def close(self) -> None:
        self.source.close()


class _TallyInbox(Inbox):
    def __init__(self, base: Inbox, tally: RecordTally) -> None:
        super().__init__(base.app, base.read_stored, base.clock)
        self.tally = tally

    def apply(
        self,
        batch: Sequence[Inbound],
        positions: Sequence[PositionRow] = (),
        staged: Sequence[StagedRow] = (),
    ) -> InboxReport:
        report = super().apply(batch, positions, staged)
        self.tally.decided(batch, report, staged)
        return report


def run_counted(
    pipeline: CdcPipeline,
    source: ChangeSource,
    *,
    flush_incomplete: bool = True,
    tick: Progress = lambda _n: None,
) -> tuple[IngestReport, RecordTally]:
    """Run the pipeline over the source; its report and the record tally."""
    tally = RecordTally()
    inbox = _TallyInbox(pipeline.inbox, tally)
    inner = pipeline.factory.decode

    def decode(raw: RawRecord) -> Decoded:
        decoded = inner(raw)
        tally.decoded(raw, decoded)
        return decoded

    def settle() -> None:
        tally.settle(inbox.dedup_lookup, final=False)

    factory = InboundFactory(pipeline.factory.mapping, decode)
    counted = CdcPipeline(inbox, factory, pipeline.clock, pipeline.dead_letters)
    report = counted.run(
        _TallySource(source, tally, settle, tick), flush_incomplete=flush_incomplete
    )
    tally.settle(inbox.dedup_lookup, final=True)
    return report, tally
