"""Units of apply: one change event, or a whole source transaction.

When Debezium's transaction metadata is present, a transaction's changes
are held until its END record has arrived and the per-table event counts it
announces are all in; then they leave together as one unit, applied (or
quarantined) whole. Records arrive in commit order per partition, but the
transaction topic and the table topics are not ordered against each other,
so completion is decided by counts, not by arrival order.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from cdc.records import ChangeEvent, RawRecord, TransactionMarker


@dataclass
class Unit:
    """Records applied together; `tx_id` is None for a lone record."""

    records: list[ChangeEvent]
    tx_id: str | None = None
    complete: bool = True

    @property
    def raws(self) -> list[RawRecord]:
        return [event.raw for event in self.records]


@dataclass
class _Pending:
    events: list[ChangeEvent] = field(default_factory=list)
    end: TransactionMarker | None = None
    seen: set[tuple[object, ...]] = field(default_factory=set)  # changes already held

    def add(self, event: ChangeEvent) -> None:
        """Hold a change once: the same change delivered again (a redelivery, or
        a staged copy of it) must not count twice towards the END's counts."""
        ref = event.transaction
        identity = (
            event.schema,
            event.table,
            repr(sorted((event.key or {}).items())),
            event.op,
            event.lsn,
            ref.total_order if ref else None,
        )
        if identity not in self.seen:
            self.seen.add(identity)
            self.events.append(event)

    def complete(self) -> bool:
        if self.end is None:
            return False
        expected = dict(self.end.data_collections)
        seen = Counter(f"{e.schema}.{e.table}" for e in self.events)
        if expected:
            return all(seen.get(name, 0) >= n for name, n in expected.items())
        return self.end.event_count is None or len(self.events) >= self.end.event_count


_PG_TX = re.compile(r"(\d+):\d+")


def transaction_key(tx_id: str) -> str:
    """The identity of a source transaction.

    Debezium's PostgreSQL connector writes ids as `<txId>:<LSN>`, and the LSN
    part differs between a transaction's BEGIN, its events and its END; the
    txId part is what they share.
    """
    match = _PG_TX.fullmatch(tx_id)
    return match.group(1) if match else tx_id


class TransactionAssembler:
    """Turns decoded records into units, holding transactions until complete."""

    def __init__(self) -> None:
        self.pending: dict[str, _Pending] = {}

    def add_event(self, event: ChangeEvent) -> list[Unit]:
        if event.transaction is None:
            return [Unit([event])]
        tx_id = transaction_key(event.transaction.id)
        self.pending.setdefault(tx_id, _Pending()).add(event)
        return self._release(tx_id)

    def add_marker(self, marker: TransactionMarker) -> list[Unit]:
        tx_id = transaction_key(marker.tx_id)
        if marker.status == "BEGIN":
            self.pending.setdefault(tx_id, _Pending())
            return []
        self.pending.setdefault(tx_id, _Pending()).end = marker
        return self._release(tx_id)

    def _release(self, tx_id: str) -> list[Unit]:
        pending = self.pending[tx_id]
        if not pending.complete():
            return []
        del self.pending[tx_id]
        ordered = sorted(
            pending.events,
            key=lambda e: (e.transaction.total_order or 0) if e.transaction else 0,
        )
        return [Unit(ordered, tx_id)] if ordered else []

    def held_transactions(self) -> list[str]:
        """Transactions not complete yet."""
        return list(self.pending)

    def pieces(self, tx_id: str) -> list[RawRecord]:
        """The records held for one transaction, its END marker included."""
        pending = self.pending.get(tx_id)
        if pending is None:
            return []
        held = [e.raw for e in pending.events]
        if pending.end is not None:
            held.append(pending.end.raw)
        return held

    def held_positions(self) -> list[RawRecord]:
        """Records held in incomplete transactions, their END markers included:
        their offsets must not be committed yet, or a restart would never see
        the transaction complete."""
        held = [e.raw for p in self.pending.values() for e in p.events]
        held.extend(p.end.raw for p in self.pending.values() if p.end is not None)
        return held

    def ended_without_events(self) -> list[str]:
        """Transactions whose END came but none of their changes (yet): after a
        restart, the END of a transaction applied before the crash."""
        return [tx for tx, p in self.pending.items() if p.end is not None and not p.events]

    def discard(self, tx_id: str) -> None:
        """Forget a transaction known to be settled already."""
        self.pending.pop(tx_id, None)

    def flush(self) -> list[Unit]:
        """At the end of the input: release what never completed.

        A transaction whose END never came (a file cut short, a topic subset)
        leaves as an incomplete unit. PostgreSQL decodes only committed
        transactions, so its changes are real; the pipeline applies them
        at the end of a finite input.
        """
        units = [
            Unit(
                sorted(
                    p.events, key=lambda e: e.transaction.total_order or 0 if e.transaction else 0
                ),
                tx_id,
                complete=False,
            )
            for tx_id, p in self.pending.items()
            if p.events
        ]
        self.pending.clear()
        return units
