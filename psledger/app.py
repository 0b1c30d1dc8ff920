"""The event-sourced application: store, transcodings and the unit of work."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import (
    IntegrityError,
    JSONTranscoder,
    Recording,
    Transcoder,
    Transcoding,
)

from domain.base import LedgerAggregate
from domain.errors import InfrastructureError
from domain.provenance import Provenance
from psledger import faults
from psledger.store.bulk_load import EventReader, load_into
from psledger.store.rows import EntityRow, LedgerRows
from psledger.store.snapshot import ReadSnapshot
from psledger.store.transcoder import DateAsISO, OrjsonTranscoder

A = TypeVar("A", bound=LedgerAggregate)
T = TypeVar("T")

RETRY_SECONDS = 120.0


class ProvenanceAsDict(Transcoding):
    type = Provenance
    name = "provenance"

    def encode(self, obj: Provenance) -> dict[str, Any]:
        return obj.to_dict()

    def decode(self, data: dict[str, Any]) -> Provenance:
        return Provenance.from_dict(data)


class LedgerApplication(Application[UUID]):
    """eventsourcing Application holding every psledger aggregate."""

    name = "psledger"

    def construct_transcoder(self) -> Transcoder:
        """JSON through orjson where it gives the library's bytes and values."""
        transcoder = OrjsonTranscoder()
        self.register_transcodings(transcoder)
        return transcoder

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(ProvenanceAsDict())

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Read psledger's side tables (the recorder knows the dialect)."""
        return self.recorder.fetch(statement, params)  # type: ignore[attr-defined,no-any-return]

    def snapshot(self) -> AbstractContextManager[ReadSnapshot]:
        """One read-only transaction over psledger's tables (psledger.store.snapshot)."""
        return self.recorder.snapshot()  # type: ignore[attr-defined,no-any-return]

    def save_aggregates(
        self, aggregates: Sequence[LedgerAggregate], **kwargs: Any
    ) -> list[Recording[UUID]]:
        """`save` for aggregates only: the library's `save` asks of every
        object whether it is an event or an aggregate through runtime
        protocol checks, which cost more than the rest of collecting."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for aggregate in aggregates:
            processing_event.events.extend(aggregate.collect_events())
            processing_event.aggregates[aggregate.id] = aggregate
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    @property
    def tables(self) -> Any:
        return self.recorder.tables  # type: ignore[attr-defined]

    def indexed(self, by_kind: Mapping[str, Iterable[str]]) -> set[tuple[str, str]]:
        """Which of these entities (kind -> business ids) the entity index
        holds, as (kind, business id): one query per kind and 500 ids."""
        found: set[tuple[str, str]] = set()
        for kind, wanted in by_kind.items():
            ids = sorted(set(wanted))
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = self.fetch(
                    self.tables.q_entities_in(len(chunk)), [kind, *self.tables.values(chunk)]
                )
                found.update((kind, row[0]) for row in rows)
        return found

    def aggregate_events(self, aggregate_id: UUID) -> list[DomainEventProtocol[UUID]]:
        return list(self.events.get(aggregate_id))


class UnitOfWork:
    """The aggregates and side rows of one batch, saved in one transaction."""

    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
        self.loaded: dict[UUID, LedgerAggregate | None] = {}
        self.present: set[UUID] = set()  # known to exist, not loaded
        self.rows = LedgerRows()

    def get(self, cls: type[A], business_id: str) -> A | None:
        key = cls.id_for(business_id)
        if key not in self.loaded:
            try:
                self.loaded[key] = self.app.repository.get(key)
            except AggregateNotFoundError:
                self.loaded[key] = None
        found = self.loaded[key]
        if found is not None and not isinstance(found, cls):
            raise InfrastructureError(f"{cls.KIND} {business_id}: stored as {type(found).__name__}")
        return found

    def exists(self, cls: type[LedgerAggregate], business_id: str) -> bool:
        """Whether the entity exists (in the store or added here), without
        loading it: the entity index is written with the events."""
        key = cls.id_for(business_id)
        if key in self.loaded:
            return self.loaded[key] is not None
        if key not in self.present:
            if not self.app.indexed({cls.KIND: [business_id]}):
                return False
            self.present.add(key)
        return True

    def preload(
        self,
        wanted: Iterable[tuple[type[LedgerAggregate], str]],
        *,
        existing: Iterable[tuple[type[LedgerAggregate], str]] = (),
    ) -> None:
        """Load these aggregates (those with no events are absent) in one
        query per 500, so that `get` need not ask the store for each; learn
        from the entity index which of `existing` exist."""
        load_into(self, wanted, EventReader.of(self.app))
        check = {(cls, b) for cls, b in existing if cls.id_for(b) not in self.loaded}
        check -= {(cls, b) for cls, b in check if cls.id_for(b) in self.present}
        by_kind: dict[str, list[str]] = {}
        for cls, business_id in check:
            by_kind.setdefault(cls.KIND, []).append(business_id)
        found = self.app.indexed(by_kind)
        self.present.update(cls.id_for(b) for cls, b in check if (cls.KIND, b) in found)

    def add(self, aggregate: LedgerAggregate, parent_id: str | None = None) -> None:
        self.loaded[aggregate.id] = aggregate
        self.rows.entities.append(EntityRow(aggregate.KIND, aggregate.business_id, parent_id))

    def touched(self) -> Iterable[LedgerAggregate]:
        return (a for a in self.loaded.values() if a is not None)

    def pending_count(self) -> int:
        return sum(len(a.pending_events) for a in self.touched())

    def commit(self) -> list[int]:
        """Append all pending events and side rows; the notification ids."""
        from psledger.store import item_index  # the work items' modules: the write side's

        self.rows.item_states = item_index.rows_for(self.touched())  # the billing index
        changed = [a for a in self.touched() if a.pending_events]  # the library checks each
        recordings = self.app.save_aggregates(changed, ledger_rows=self.rows)
        return [r.notification.id for r in recordings]

    def evict(self) -> None:
        cache = self.app.repository.cache
        if cache is not None:
            for key in self.loaded:
                with contextlib.suppress(KeyError):
                    cache.get(key, evict=True)


def with_retries(app: LedgerApplication, work: Callable[[UnitOfWork], T]) -> tuple[T, list[int]]:
    """Run `work` in a fresh unit of work and commit it, deciding again on a
    concurrent writer (see `retrying`)."""

    def decide() -> tuple[T, UnitOfWork]:
        uow = UnitOfWork(app)
        return work(uow), uow

    return retrying(decide)


def retrying(decide: Callable[[], tuple[T, UnitOfWork]]) -> tuple[T, list[int]]:
    """Decide (`decide` returns its result and the unit of work to commit)
    and commit; on an optimistic concurrency conflict (another writer got
    there first: an aggregate version, a dedup key or an index row already
    taken) decide again on the new state. A conflict is never a failure: the
    loop gives up only when writers keep colliding for `RETRY_SECONDS`, which
    means the store is stuck, and says so. The one retry loop of psledger."""
    started = time.monotonic()
    attempt = 0
    while True:
        attempt += 1
        result, uow = decide()
        faults.reached("store_commit")
        try:
            return result, uow.commit()
        except IntegrityError as exc:
            uow.evict()
            if time.monotonic() - started > RETRY_SECONDS:
                raise InfrastructureError(
                    f"gave up after {attempt} concurrent-write conflicts in "
                    f"{RETRY_SECONDS:.0f} s; the last: {_first_line(exc)}"
                ) from exc
            # back off a little, with jitter, so colliding writers drift apart
            time.sleep(random.uniform(0, min(0.5, 0.005 * 2 ** min(attempt, 7))))


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
