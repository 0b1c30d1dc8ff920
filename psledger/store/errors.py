"""Store errors translated at the recorder boundary, and scrubbed for clients.

The recorders wrap their public methods in `store_errors()`, so what leaves
the store is one of:

    StoreConflict (an eventsourcing IntegrityError)
        another writer stored the same aggregate version, dedup key or index
        row first; the retry loops catch IntegrityError and decide again
    StoreUnavailable (an InfrastructureError)
        the server cannot be reached, went away, or a lock wait timed out
    InfrastructureError
        anything else the store refused (a missing schema, a bad value)

Every message is one line that names no internal table, index, constraint or
prepared statement (``psledger_dedup_pkey``, ``psledger_events``, ``_pg3_35``);
the driver's own error stays on ``__cause__`` for the log and PSLEDGER_DEBUG.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

from eventsourcing.persistence import (
    DataError,
    IntegrityError,
    InterfaceError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)

from domain.errors import InfrastructureError

UPGRADE_HINT = "run `psledger db upgrade`"


class StoreConflict(IntegrityError):
    """A concurrent writer got there first: decide again on the new state."""


class StoreUnavailable(InfrastructureError):
    reason = "store_unavailable"


_INTERNAL_NAME = re.compile(
    r'"[A-Za-z_][\w.$]*"'  # quoted identifiers: relations, constraints, statements
    r"|\b(?:psledger|stored|notification|es)_[A-Za-z0-9_.]+"  # table.column, index, function
    r"|\b_pg3_\w+"
    r"|\b\w+_(?:pkey|fkey|idx)\b"
)

# what a conflict was about, by the table or constraint the driver names
_CONFLICTS = (
    ("psledger_dedup", "a dedup key"),
    ("psledger_entities", "an entity index row"),
    ("psledger_quarantine", "a quarantine row"),
    ("psledger_parked", "a parked row"),
    ("psledger_staged", "a staged transaction piece"),
    ("psledger_positions", "a source position"),
    ("psledger_schema_version", "a schema version"),
    ("psledger_journal", "a journal entry"),
)


def scrub(text: str) -> str:
    """The first line of `text` without internal names."""
    line = (text.strip().splitlines() or [""])[0]
    line = _INTERNAL_NAME.sub("", line)
    line = re.sub(r"\s+([,.:;)])", r"\1", re.sub(r"\s{2,}", " ", line)).strip(" :")
    return line


def describe_conflict(exc: BaseException) -> str:
    text = str(exc)
    what = next((label for table, label in _CONFLICTS if table in text), None)
    if what is None:
        what = "an aggregate version" if "_events" in text else "a record"
    return f"concurrent write conflict: {what} was stored by another writer first"


def describe_unavailable(exc: BaseException) -> str:
    text = str(exc).lower()
    if "lock" in text and ("timeout" in text or "locked" in text):
        cause = "a lock wait timed out"
    elif "refused" in text or "could not connect" in text or "connection failed" in text:
        cause = "the server refused the connection"
    elif "closed" in text or "terminat" in text or "shutdown" in text or "lost" in text:
        cause = "the server closed the connection"
    elif "timeout" in text or "timed out" in text or "couldn't get a connection" in text:
        cause = "timed out waiting for a connection"
    else:
        cause = "the connection failed"
    return f"the event store is unavailable ({cause}); try again"


def translate(exc: PersistenceError) -> Exception:
    """The error the store raises instead of the library's `exc`."""
    if isinstance(exc, StoreConflict):
        return exc
    if isinstance(exc, IntegrityError):
        return StoreConflict(describe_conflict(exc))
    text = str(exc)
    if (
        "no such table" in text
        or "no such column" in text
        or (
            isinstance(exc, ProgrammingError)
            and re.search(r"(relation|column|type) .* does not exist", text)
        )
    ):
        return InfrastructureError(
            f"the event store's schema is missing or out of date; {UPGRADE_HINT}"
        )
    if isinstance(exc, (OperationalError, InterfaceError)):
        return StoreUnavailable(describe_unavailable(exc))
    if isinstance(exc, DataError):
        return InfrastructureError(f"the event store refused a value: {scrub(text)}")
    return InfrastructureError(f"the event store failed: {scrub(text) or type(exc).__name__}")


@contextmanager
def store_errors() -> Iterator[None]:
    """Raise the store's errors (see the module docstring) instead of the library's."""
    try:
        yield
    except PersistenceError as exc:
        translated = translate(exc)
        if translated is exc:
            raise
        raise translated from exc
