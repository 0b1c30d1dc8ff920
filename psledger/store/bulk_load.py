"""Load many aggregates at once: one query per `CHUNK` aggregates.

`repository.get` asks the store once per aggregate, then copies it out of
the aggregate cache; a billing run needs thousands at a time. This reads
their events with one `SELECT ... WHERE originator_id IN (...)` per chunk,
decodes them with the application's mapper (upcasting included) and folds
each aggregate's events in version order, exactly as the repository does,
without the cache: the aggregates are the caller's to change and save.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from domain.base import LedgerAggregate
from domain.errors import InfrastructureError

CHUNK = 500
MAX_VERSION = 2**63

Fetch = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]


def events_table(recorder: Any) -> tuple[str, bool]:
    """The events table's name as SQL, and whether the store is PostgreSQL."""
    postgres = recorder.tables.d.name == "postgres"
    table = recorder.events_table_name
    return (f'"{recorder.datastore.schema}"."{table}"' if postgres else table), postgres


class EventReader:
    """Reads whole aggregates from the events table in chunks."""

    def __init__(self, fetch: Fetch, mapper: Mapper[Any], table: str, postgres: bool) -> None:
        self.fetch = fetch
        self.mapper = mapper
        self.table = table
        self.postgres = postgres

    @classmethod
    def of(cls, app: Any) -> EventReader:
        """The reader of an application's store; on PostgreSQL its rows come
        in the binary format (states as their bytes, ids as 16 bytes), which
        the server sends and the driver reads faster than hex text."""
        table, postgres = events_table(app.recorder)
        fetch = partial(app.recorder.fetch, binary=True) if postgres else app.recorder.fetch
        return cls(fetch, app.mapper, table, postgres)

    def _statement(self, n: int) -> str:
        """On PostgreSQL one array parameter (`= ANY`): psycopg parses a long
        IN list placeholder by placeholder."""
        among = "= ANY(%b)" if self.postgres else f"IN ({', '.join(['?'] * n)})"
        return (
            "SELECT originator_id, originator_version, topic, state FROM "
            f"{self.table} WHERE originator_id {among} "
            "ORDER BY originator_id, originator_version"
        )

    def aggregates(
        self, ids: Sequence[UUID], before: Mapping[UUID, int] | None = None
    ) -> Iterator[tuple[UUID, Any]]:
        """(id, aggregate) for each id that has events, chunk by chunk; with
        `before`, each aggregate as it was just before that version."""
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            params = [list(chunk)] if self.postgres else [i.hex for i in chunk]
            current: Any = None
            current_id: UUID | None = None
            last_oid: Any = None
            below = MAX_VERSION
            for oid, version, topic, state in self.fetch(self._statement(len(chunk)), params):
                if oid != last_oid:  # rows come grouped by aggregate: one UUID each
                    if current_id is not None:
                        yield current_id, current
                    key = oid if isinstance(oid, UUID) else UUID(str(oid))
                    current, current_id, last_oid = None, key, oid
                    below = before.get(key, MAX_VERSION) if before is not None else MAX_VERSION
                if version >= below:
                    continue
                stored = StoredEvent(current_id, int(version), str(topic), bytes(state))  # type: ignore[arg-type]
                current = self.mapper.to_domain_event(stored).mutate(current)  # type: ignore[attr-defined]
            if current_id is not None:
                yield current_id, current

    def before(self, versions: Mapping[UUID, int]) -> dict[UUID, Any]:
        """Each aggregate as it was just before the version given for it
        (None for one with no events before it)."""
        return dict(self.aggregates(sorted(versions), versions))


def load_into(
    uow: Any, wanted: Iterable[tuple[type[LedgerAggregate], str]], reader: EventReader
) -> None:
    """Load these aggregates into a unit of work (`uow.loaded`) in chunks;
    one with no events is recorded as absent, one already loaded is kept."""
    kinds: dict[UUID, tuple[type[LedgerAggregate], str]] = {}
    for cls, business_id in wanted:
        key = cls.id_for(business_id)
        if key not in uow.loaded:
            kinds[key] = (cls, business_id)
    ids = sorted(kinds)
    found = dict(reader.aggregates(ids))
    for key in ids:
        cls, business_id = kinds[key]
        aggregate = found.get(key)
        if aggregate is not None and not isinstance(aggregate, cls):
            raise InfrastructureError(
                f"{cls.KIND} {business_id}: stored as {type(aggregate).__name__}"
            )
        uow.loaded[key] = aggregate
