"""The read side's runner: keeps the materialised views up to the event store.

    catch_up()      every view (or those named) to the store's last
                    notification, in pages; each page's rows commit with the
                    view's position in one transaction
    status()        each view's position, the store's last id and the lag
    span()          what a catch-up would read now (for a progress bar)
    rebuild(names)  drop and replay in pages; a rebuild that was killed is
                    resumed (not restarted) by the next rebuild
    shape()         a view stored in an older shape (tables.py, VIEW_SCHEMAS)
                    is made anew and replayed; each of the above does it first
    ViewThread      `catch_up` in a background thread until stopped (serve)

The library's `ProjectionRunner` drives one projection per event through a
store subscription, which eventsourcing's SQLite recorder does not offer;
this runner reads the notification log in pages instead, folds each page
once for every view, and polls when it has caught up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.persistence import Notification, Tracking

from domain.errors import InputError
from projections.read.recorders import view_recorder
from projections.read.tables import VIEW_NAMES, VIEW_SCHEMAS
from projections.read.writes import ViewWrites, tracking_name
from psledger import faults
from psledger.app import LedgerApplication
from psledger.store.bulk_load import EventReader

if TYPE_CHECKING:
    from projections.read.views import AggregateFold, LedgerView

PAGE = 500
# Aggregates the catch-up keeps between pages: a page's misses load in one
# query per chunk (`AggregateFold.prime`), so more would buy memory, not speed.
FOLD_CACHE = 2_000
Progress = Callable[[int, int], None]  # (notifications done, notifications to do)


@dataclass(frozen=True)
class ViewStatus:
    name: str
    position: int
    last_notification_id: int
    rebuilding: bool

    @property
    def lag(self) -> int:
        return max(self.last_notification_id - self.position, 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "position": self.position,
            "last_notification_id": self.last_notification_id,
            "lag": self.lag,
            "rebuilding": self.rebuilding,
        }


class ReadSide:
    """The views of one event store, and the loop that feeds them."""

    def __init__(self, app: LedgerApplication, page: int = PAGE) -> None:
        self.app = app
        self.page = page
        self.recorder = view_recorder(app.recorder)
        self._views: dict[str, LedgerView] | None = None
        self._fold: AggregateFold | None = None
        self.shaped = False
        self.lock = threading.RLock()

    @property
    def views(self) -> dict[str, LedgerView]:
        """The views, made when first folded into: they read the domain's
        aggregates, which a read of caught-up views never imports."""
        if self._views is None:
            from projections.read.views import VIEWS

            self._views = {cls.view_name: cls(self.recorder, self._load) for cls in VIEWS}
        return self._views

    @property
    def fold(self) -> AggregateFold:
        if self._fold is None:
            from projections.read.views import AggregateFold

            self._fold = AggregateFold(self._load, FOLD_CACHE, EventReader.of(self.app).before)
        return self._fold

    def position(self, name: str) -> int:
        return self.recorder.max_tracking_id(tracking_name(name)) or 0

    def shape(self) -> None:
        """Bring every view to the shape this code writes (tables.py,
        `VIEW_SCHEMAS`): an older view is dropped and replayed by the next
        catch-up. Checked once per process; one indexed read per view."""
        if self.shaped:
            return
        for name, schema in VIEW_SCHEMAS.items():
            if self.recorder.schema(name) < schema.version:
                self.recorder.upgrade(name, schema, [tracking_name(name), _marker(name)])
        self.shaped = True

    def _load(self, aggregate_id: UUID, version: int) -> Any:
        return self.app.repository.get(aggregate_id, version=version)

    def names(self, wanted: Sequence[str] = ()) -> list[str]:
        unknown = [n for n in wanted if n not in VIEW_NAMES]
        if unknown:
            raise InputError(
                f"no view named {', '.join(unknown)}; the views are {', '.join(VIEW_NAMES)}"
            )
        return list(wanted) or list(VIEW_NAMES)

    def last_notification_id(self) -> int:
        return int(self.app.recorder.max_notification_id() or 0)

    def status(self) -> list[ViewStatus]:
        self.shape()
        last = self.last_notification_id()
        return [
            ViewStatus(
                name,
                self.position(name),
                last,
                self.recorder.max_tracking_id(_marker(name)) is not None,
            )
            for name in VIEW_NAMES
        ]

    def span(self, wanted: Sequence[str] = ()) -> tuple[int, int]:
        """What a catch-up of the views (or those named) would read now: from
        the lowest of their positions to the store's last notification."""
        names = self.names(wanted)
        self.shape()
        lowest = min((self.position(name) for name in names), default=0)
        return lowest, self.last_notification_id()

    def catch_up(
        self,
        wanted: Sequence[str] = (),
        *,
        until: int | None = None,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
    ) -> int:
        """Bring the views up to `until` (default: the store's last
        notification now); the number of notifications read. One thread at
        a time: the fold's aggregates are this read side's (HTTP requests
        share one read side per application)."""
        with self.lock:
            return self._catch_up(wanted, until, progress, stop)

    def _catch_up(
        self,
        wanted: Sequence[str],
        until: int | None,
        progress: Progress | None,
        stop: threading.Event | None,
    ) -> int:
        names = self.names(wanted)
        self.shape()
        target = self.last_notification_id() if until is None else until
        positions = {name: self.position(name) for name in names}
        start = min(positions.values(), default=target)
        read = 0
        if start >= target:
            return read  # caught up: the views (and the domain) are not needed
        views = [self.views[n] for n in names]
        while start < target and not (stop is not None and stop.is_set()):
            page = self.app.recorder.select_notifications(
                start + 1, self.page, stop=target, inclusive_of_start=True
            )
            if not page:
                break
            if not self._apply(views, positions, page):
                # another process moved a view on, or a rebuild dropped it:
                # carry on from where the views are now
                positions = {name: self.position(name) for name in names}
                start = min(positions.values(), default=target)
                continue
            start = page[-1].id
            read += len(page)
            if progress is not None:
                progress(start, target)
        return read

    def _apply(
        self, views: list[LedgerView], positions: dict[str, int], page: Sequence[Notification]
    ) -> bool:
        """Write the page into each view behind it; False if one of them had
        moved meanwhile (that one is left as it was)."""
        writes = {v.view_name: ViewWrites() for v in views}
        mapper = self.app.mapper
        events = [mapper.to_domain_event(notification) for notification in page]
        self.fold.prime(events)
        for notification, event in zip(page, events, strict=True):
            aggregate = self.fold.fold(event)
            for view in views:
                if notification.id > positions[view.view_name]:
                    view.collect(writes[view.view_name], aggregate, event, notification.id)
        end, written = page[-1].id, True
        for view in views:
            name = view.view_name
            if positions[name] >= end:
                continue
            view.finish(writes[name])
            tracking = Tracking(view.tracking_name, end)
            if self.recorder.write(name, writes[name], tracking, expected=positions[name]):
                positions[name] = end
            else:
                written = False
            faults.reached("view_page_committed")
        return written

    def rebuild(self, wanted: Sequence[str] = (), *, progress: Progress | None = None) -> int:
        """Drop the views and replay the store into them. A rebuild leaves a
        marker until it finishes; a rebuild started while the marker is there
        carries on from the view's position instead of dropping again."""
        names = self.names(wanted)
        self.shape()
        target = self.last_notification_id()
        for name in names:
            if self.recorder.max_tracking_id(_marker(name)) is None:
                self.recorder.drop(name, [tracking_name(name)])
                self.recorder.set_position(_marker(name), max(target, 0))
        self.fold.clear()
        read = self.catch_up(names, progress=progress)
        for name in names:
            self.recorder.clear_position(_marker(name))
        return read


def _marker(view: str) -> str:
    return f"{tracking_name(view)}#rebuilding"


class ViewThread:
    """Catches the views up in a background thread until `stop()` (serve)."""

    def __init__(self, read_side: ReadSide, interval: float = 0.5) -> None:
        self.read_side = read_side
        self.interval = interval
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="psledger-views", daemon=True)

    def start(self) -> ViewThread:
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                self.read_side.catch_up(stop=self.stopping)
                self.error = None
            except Exception as exc:  # kept for status; tried again
                self.error = exc
            self.stopping.wait(self.interval)

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        self.thread.join(timeout)
