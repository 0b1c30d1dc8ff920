"""The materialised views as eventsourcing `Projection`s, fed in pages.

A page of notifications is folded once into the aggregates it touches
(`AggregateFold`); each view then collects its rows from the events after
its own position and writes them with that position in one transaction
(`ViewRecorder.write`). `process_event` is the library's one-event form of
the same thing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, cast
from uuid import UUID

from eventsourcing.persistence import Tracking, TrackingRecorder
from eventsourcing.projection import Projection

from domain.base import LedgerAggregate
from domain.invoice import Invoice
from domain.work_item import WorkItem
from projections.read import lineage, rows
from projections.read.writes import ViewRecorder, ViewWrites, tracking_name

Loader = Callable[[UUID, int], Any]  # (aggregate id, version) -> the aggregate at it
# {aggregate id: version} -> {aggregate id: the aggregate just before that version}
ManyLoader = Callable[[Mapping[UUID, int]], Mapping[UUID, Any]]


class AggregateFold:
    """Aggregates as of the last folded event, kept in a bounded LRU: an event
    that follows the cached version is applied in memory, any other loads
    the aggregate at the event's version.

    A pass over a long log touches more aggregates than an LRU can hold
    (ingest, approval and billing visit every item in turn), so a paged
    catch-up calls `prime` with each page's events first: the aggregates the
    page will need are pinned for the page, those the cache lacks loaded in
    one go (`load_many`, one query per chunk), not one query per event. The
    page's aggregates go into the LRU at the next `prime`."""

    def __init__(
        self, load: Loader, size: int = 100_000, load_many: ManyLoader | None = None
    ) -> None:
        self.load = load
        self.load_many = load_many
        self.size = size
        self.cache: OrderedDict[UUID, Any] = OrderedDict()
        self.pinned: dict[UUID, Any] = {}  # this page's aggregates (None: not created yet)

    def prime(self, events: Sequence[Any]) -> int:
        """Pin the aggregates these events belong to, each as it was just
        before its first event here, loading those the cache does not hold
        at that version. Returns how many it loaded."""
        self._settle()
        if self.load_many is None:
            return 0
        wanted: dict[UUID, int] = {}
        for event in events:
            key, version = event.originator_id, int(event.originator_version)
            if key in self.pinned or key in wanted:
                continue
            cached = self.cache.pop(key, None)
            if version == 1:
                self.pinned[key] = None  # created on this page
            elif cached is not None and cached.version == version - 1:
                self.pinned[key] = cached
            else:
                wanted[key] = version
        if wanted:
            for key, aggregate in self.load_many(wanted).items():
                if aggregate is not None and aggregate.version == wanted[key] - 1:
                    self.pinned[key] = aggregate
        return len(wanted)

    def fold(self, event: Any) -> Any:
        key, version = event.originator_id, int(event.originator_version)
        pinned = key in self.pinned
        cached = self.pinned[key] if pinned else self.cache.pop(key, None)
        if cached is not None and cached.version == version - 1:
            aggregate = event.mutate(cached)
        elif version == 1:
            aggregate = event.mutate(None)
        else:
            aggregate = self.load(key, version)
        if pinned:
            self.pinned[key] = aggregate
        else:
            self.cache[key] = aggregate
            self._bound()
        return aggregate

    def clear(self) -> None:
        """Forget every aggregate (the views are replayed from the start)."""
        self.cache.clear()
        self.pinned = {}

    def _settle(self) -> None:
        """The last page's aggregates into the LRU."""
        for key, aggregate in self.pinned.items():
            if aggregate is not None:
                self.cache[key] = aggregate
        self.pinned = {}
        self._bound()

    def _bound(self) -> None:
        while len(self.cache) > self.size:
            self.cache.popitem(last=False)


class LedgerView(Projection[TrackingRecorder]):
    """One view: which events it keeps, and its rows at the end of a page."""

    view_name: ClassVar[str] = ""

    def __init__(self, view: ViewRecorder, load: Loader | None = None) -> None:
        super().__init__(cast(TrackingRecorder, view))
        self.recorder = view
        self.fold = AggregateFold(load or _no_loader)

    @property
    def tracking_name(self) -> str:
        return tracking_name(self.view_name)

    def position(self) -> int:
        return self.recorder.max_tracking_id(self.tracking_name) or 0

    def collect(self, writes: ViewWrites, aggregate: Any, event: Any, notification_id: int) -> None:
        """Note the event (its aggregate's rows are made by `finish`)."""
        writes.touched[aggregate.id] = (aggregate, notification_id)

    def finish(self, writes: ViewWrites) -> None:
        """Turn the touched aggregates into rows."""

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        """The library's contract: one event and its position, in one transaction."""
        writes = ViewWrites()
        aggregate = self.fold.fold(domain_event)
        self.collect(writes, aggregate, domain_event, tracking.notification_id)
        self.finish(writes)
        position = Tracking(self.tracking_name, tracking.notification_id)
        self.recorder.write(self.view_name, writes, position)


def _no_loader(aggregate_id: UUID, version: int) -> Any:
    raise LookupError(f"no loader for aggregate {aggregate_id} at version {version}")


class InvoicesView(LedgerView):
    view_name = "invoices"

    def finish(self, writes: ViewWrites) -> None:
        for aggregate, nid in writes.touched.values():
            if isinstance(aggregate, Invoice):
                row = rows.invoice_row(aggregate, nid)
                writes.upsert("psledger_view_invoices", row[:1], row)


class ItemsView(LedgerView):
    view_name = "items"

    def finish(self, writes: ViewWrites) -> None:
        for aggregate, nid in writes.touched.values():
            if isinstance(aggregate, WorkItem):
                row = rows.item_row(aggregate, nid)
                writes.upsert("psledger_view_items", row[:2], row)


class LineageView(LedgerView):
    view_name = "lineage"

    def collect(self, writes: ViewWrites, aggregate: Any, event: Any, notification_id: int) -> None:
        if isinstance(aggregate, WorkItem):
            row = rows.item_event_row(aggregate, event, notification_id)
            writes.upsert("psledger_view_item_events", row[:3], row)
        elif isinstance(aggregate, Invoice):
            row = lineage.invoice_event_row(aggregate, event, notification_id)
            writes.upsert("psledger_view_invoice_events", row[:2], row)
            writes.touched[aggregate.id] = (aggregate, notification_id)

    def finish(self, writes: ViewWrites) -> None:
        for aggregate, nid in writes.touched.values():
            assert isinstance(aggregate, Invoice)
            writes.replaced_lineage.add(aggregate.business_id)
            for row in rows.lineage_rows(aggregate):
                writes.upsert("psledger_view_lineage", row[:2], row)
            row = lineage.trace_row(aggregate, nid)
            writes.upsert("psledger_view_trace", row[:1], row)


class EntitiesView(LedgerView):
    view_name = "entities"

    def finish(self, writes: ViewWrites) -> None:
        for aggregate, nid in writes.touched.values():
            if isinstance(aggregate, LedgerAggregate):
                row = rows.entity_row(aggregate, nid)
                writes.upsert("psledger_view_entities", row[:2], row)


VIEWS: tuple[type[LedgerView], ...] = (InvoicesView, ItemsView, LineageView, EntitiesView)
