"""The notification log's pages, read for replays and catch-ups.

eventsourcing's recorders build each row as a dict (PostgreSQL), then a
frozen `Notification` whose `__init__` sets its five fields one
`object.__setattr__` at a time. Here the rows are tuples and each
`Notification` is made with its fields at once; the pages are equal to the
library's, field for field (tests/integration/store/test_event_store.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

_new = object.__new__
_set = object.__setattr__


def notification(
    notification_id: int,
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
) -> Notification:
    """`Notification(...)`, whose `__init__` does nothing but set the fields."""
    made = _new(Notification)
    _set(
        made,
        "__dict__",
        {
            "originator_id": originator_id,
            "originator_version": originator_version,
            "topic": topic,
            "state": state,
            "id": notification_id,
        },
    )
    return made


@dataclass(frozen=True)
class PageDialect:
    """How a store words a page: its id column, placeholder, topics filter."""

    id_column: str
    mark: str
    topics_as_array: bool  # `topic = ANY(%s)`, else `topic IN (?, ...)`


SQLITE_PAGES = PageDialect("rowid", "?", topics_as_array=False)
POSTGRES_PAGES = PageDialect("notification_id", "%s", topics_as_array=True)


def page_query(
    dialect: PageDialect,
    start: int | None,
    limit: int,
    stop: int | None,
    topics: Sequence[str],
    inclusive_of_start: bool,
) -> tuple[str, list[Any]]:
    """The WHERE ... ORDER BY ... LIMIT of a page, as the library words it,
    and its parameters."""
    id_column, mark = dialect.id_column, dialect.mark
    where: list[str] = []
    params: list[Any] = []
    if start is not None:
        where.append(f"{id_column} {'>=' if inclusive_of_start else '>'} {mark}")
        params.append(start)
    if stop is not None:
        where.append(f"{id_column} <= {mark}")
        params.append(stop)
    if topics:
        if dialect.topics_as_array:
            where.append(f"topic = ANY({mark})")
            params.append(list(topics))
        else:
            where.append(f"topic IN ({', '.join([mark] * len(topics))})")
            params.extend(topics)
    params.append(limit)
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return f"{clause} ORDER BY {id_column} LIMIT {mark}", params
