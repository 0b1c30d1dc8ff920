"""The lineage of one invoice: line -> work item -> the events that billed it.

For every line of an invoice (or credit note, or re-issue) the trace names
its work item and the item's events that made it what was billed: the
capture, the revisions, the approval, the pricing and the invoicing. Each
event says who and when (business time at the source, and the time the
ledger recorded it) and where it came from: the CDC position (connector,
table, key, LSN, txId; topic, partition and offset where the provenance
holds them) or the webhook delivery. The invoice's own events (drafted,
issued, posted, repricing approved) and its rule version head the trace.

The trace is read from the audit lineage view (projections/read/lineage.py),
caught up first: three indexed reads in one transaction, whose cost is the
invoice's lines and its items' histories, never the store's size.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from domain.errors import UnknownEntity
from projections.read.lineage import (  # re-exported: the trace's vocabulary
    POSITION,
    ROLES,
    billed_entries,
    json_ready,
    position,
    trace_entry,
)
from psledger.app import LedgerApplication
from psledger.read_side import ReadSide

__all__ = [
    "POSITION",
    "ROLES",
    "json_ready",
    "position",
    "trace",
    "trace_entry",
    "trace_json",
    "traced",
]

_READ_SIDE = "_psledger_trace_read_side"


def read_side_of(app: LedgerApplication) -> ReadSide:
    """One read side per application (its views' recorder and fold), kept
    on the application. Not in a `WeakKeyDictionary` keyed by it: the read
    side holds its application, so such an entry would never be dropped and
    would keep every application (and its store's connections) alive; on the
    application, the two are one cycle that the collector frees."""
    found: ReadSide | None = getattr(app, _READ_SIDE, None)
    if found is None:
        found = ReadSide(app)
        setattr(app, _READ_SIDE, found)
    return found


def trace(app: LedgerApplication, number: str, *, catch_up: bool = True) -> dict[str, Any]:
    """The trace of invoice `number` in `app`'s store, the lineage view
    caught up first (unless `catch_up` is False); UnknownEntity without one."""
    return traced(_caught_up(app, catch_up), number)


def trace_json(
    app: LedgerApplication, number: str, *, catch_up: bool = True, indent: bool = False
) -> bytes:
    """`trace` as JSON, for the CLI and HTTP. The view's entries (JSON text)
    are copied into the document as they are stored, not decoded and encoded
    again: decoded, it equals `trace(app, number)`."""
    found, lines, own, histories = _parts(_caught_up(app, catch_up), number)
    found["events"] = [orjson.Fragment(entry) for entry in own]
    for line, history in zip(lines, histories, strict=True):
        line["events"] = [orjson.Fragment(entry) for entry in history]
    found["lines"] = lines
    return orjson.dumps(found, option=orjson.OPT_INDENT_2 if indent else None)


def traced(read_side: ReadSide, number: str) -> dict[str, Any]:
    """The trace of invoice `number` as the lineage view holds it now. The
    kept entries are decoded in one piece (one JSON array, then sliced)."""
    found, lines, own, histories = _parts(read_side, number)
    kept = own + [entry for history in histories for entry in history]
    decoded = orjson.loads("[" + ",".join(kept) + "]")
    at = len(own)
    found["events"] = decoded[:at]
    for line, history in zip(lines, histories, strict=True):
        line["events"] = decoded[at : at + len(history)]
        at += len(history)
    found["lines"] = lines
    return found


def _caught_up(app: LedgerApplication, catch_up: bool) -> ReadSide:
    read_side = read_side_of(app)
    if catch_up:
        read_side.catch_up(["lineage"])
    return read_side


def _parts(
    read_side: ReadSide, number: str
) -> tuple[dict[str, Any], list[dict[str, Any]], list[str], list[list[str]]]:
    """The trace's head, its lines (without their events), the invoice's own
    entries and each line's history: entries as the JSON text stored."""
    head, events, items = read_side.recorder.trace_rows(number)
    if head is None:
        raise UnknownEntity(f"invoice {number} is not known to the ledger")
    drafted_at, head_json, lines_json = head
    drafted = datetime.fromisoformat(str(drafted_at))
    by_line: dict[int, list[tuple[str, str | None, Any, Any]]] = {}
    for line_no, name, document, at, entry in items:
        by_line.setdefault(int(line_no), []).append((name, document, at, entry))
    found: dict[str, Any] = orjson.loads(head_json)
    lines: list[dict[str, Any]] = orjson.loads(lines_json)
    histories = [
        [
            str(entry)
            for entry in billed_entries(by_line.get(int(line["line_no"]), []), number, drafted)
        ]
        if line["line_no"] is not None
        else []
        for line in lines
    ]
    return found, lines, [str(entry) for (entry,) in events], histories
