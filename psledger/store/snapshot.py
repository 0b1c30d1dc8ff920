"""Reads that see one moment of the store and stream what they read.

A `ReadSnapshot` is one read-only transaction: every statement run through
it sees the same committed state (SQLite: one BEGIN on one connection, which
WAL keeps as it was; PostgreSQL: REPEATABLE READ). `stream` hands rows over
`FETCH_ROWS` at a time (PostgreSQL: in chunks as the server sends them), so
a listing of any length holds one batch. The recorders
(psledger.store.sqlite, psledger.store.postgres) open them; no driver is
imported here.
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


class StreamOpen(RuntimeError):
    """A statement asked of a snapshot while one of its streams is being read."""


class Streams:
    """The streams a snapshot opened, closed with it: a stream left part
    read (a reader gone, a broken pipe) ends before its transaction does.

    A snapshot runs one statement at a time: from a stream's first row until
    it is read to its end (or closed), the connection is the stream's (on
    PostgreSQL the server is still sending its rows), and another `fetch` or
    `stream` on the same snapshot raises `StreamOpen`, on either store."""

    def __init__(self) -> None:
        self._open: list[Generator[tuple[Any, ...], None, None]] = []
        self._reading: str | None = None  # the statement of the stream being read

    def fetch(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self._idle(statement)
        return self._fetch(statement, params)

    def stream(self, statement: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        rows = self._read(statement, params)
        self._open.append(rows)
        return rows

    def _read(
        self, statement: str, params: Sequence[Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        self._idle(statement)
        self._reading = statement
        try:
            yield from self._rows(statement, params)
        finally:
            self._reading = None

    def _idle(self, statement: str) -> None:
        if self._reading is not None:
            raise StreamOpen(
                f"a snapshot runs one statement at a time: {statement[:60]!r} was asked "
                f"while the rows of {self._reading[:60]!r} were still being read"
            )

    def _fetch(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _rows(
        self, statement: str, params: Sequence[Any]
    ) -> Generator[tuple[Any, ...], None, None]:
        raise NotImplementedError

    def close(self) -> None:
        for rows in self._open:
            rows.close()
        self._open.clear()
