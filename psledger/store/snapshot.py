"""Reads that see one moment of the store and stream what they read.

A `ReadSnapshot` is one read-only transaction: every statement run through
it sees the same committed state (SQLite: one BEGIN on one connection, which
WAL keeps as it was; PostgreSQL: REPEATABLE READ). `stream` hands rows over
`FETCH_ROWS` at a time (PostgreSQL: a server-side cursor), so a listing of
any length holds one batch. The recorders (psledger.store.sqlite,
psledger.store.postgres) open them; no driver is imported here.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator, Sequence
from typing import Any, Protocol

FETCH_ROWS = 1000


class ReadSnapshot(Protocol):
    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of one statement."""

    def stream(self, statement: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of one statement, fetched `FETCH_ROWS` at a time."""


class Streams:
    """The streams a snapshot opened, closed with it: a stream left part
    read (a reader gone, a broken pipe) ends before its transaction does."""

    def __init__(self) -> None:
        self._open: list[Generator[tuple[Any, ...], None, None]] = []

    def stream(self, statement: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        rows = self._rows(statement, params)
        self._open.append(rows)
        return rows

    def _rows(
        self, statement: str, params: Sequence[Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        raise NotImplementedError

    def close(self) -> None:
        for rows in self._open:
            rows.close()
        self._open.clear()
