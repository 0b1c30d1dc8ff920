"""The billing state index: which work items can change an invoice.

One row per work item and per project in ``psledger_item_state``: an item's
project, state, month, the invoice it is on (or returns from) and whether it
is open, i.e. can change an invoice (`can_change_an_invoice`); a project's
contract. A billing run reads a contract's projects and open items from it
instead of loading every item ever recorded (`IndexReader.book_items`).

Each row records the aggregate version it reflects. Rows travel with a unit
of work's events as `LedgerRows.item_states` (`rows_for`); whatever a row
does not reflect yet (an item with a later event, or none at all, e.g. a
store upgraded to migration 8) is found by `stale` and brought up to date by
`refresh`, in bounded pages, before a run reads the index. So the index is
never trusted beyond what the events say.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from domain.work_states import APPROVED, BILLABLE, INVOICED, POSTED
from psledger.store.bulk_load import EventReader, events_table
from psledger.store.rows import ItemStateRow

if TYPE_CHECKING:
    from domain.base import LedgerAggregate
    from domain.project import Project
    from domain.work_item import WorkItem

TABLE = "psledger_item_state"
PAGE = 1000


@functools.cache
def kinds() -> dict[str, type[LedgerAggregate]]:
    """The indexed kinds and their classes (imported when first asked for: the
    migrations and the side tables name this module, reads need no aggregate)."""
    from domain.expense_item import ExpenseItem
    from domain.milestone import Milestone
    from domain.project import Project
    from domain.time_entry import TimeEntry

    return {cls.KIND: cls for cls in (TimeEntry, ExpenseItem, Milestone, Project)}


@functools.cache
def _classes() -> tuple[type[Project], type[WorkItem]]:
    from domain.project import Project
    from domain.work_item import WorkItem

    return Project, WorkItem


DDL = [
    f"CREATE TABLE IF NOT EXISTS {TABLE} ("
    "kind TEXT NOT NULL, business_id TEXT NOT NULL, aggregate_id TEXT NOT NULL, "
    "version {bigint} NOT NULL, project_id TEXT, contract_id TEXT, state TEXT NOT NULL, "
    "month TEXT NOT NULL, invoice_ref TEXT, open {bigint} NOT NULL, "
    "PRIMARY KEY (kind, business_id))",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_open ON {TABLE} (project_id, open)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_invoice ON {TABLE} (invoice_ref)",
    f"CREATE INDEX IF NOT EXISTS {TABLE}_contract ON {TABLE} (contract_id)",
]

_COLUMNS = (
    "kind, business_id, aggregate_id, version, project_id, contract_id, state, month, "
    "invoice_ref, open"
)


def can_change_an_invoice(item: WorkItem) -> bool:
    """Whether a billing run may change or issue an invoice because of this
    item: approved or billable (to price, hold, invoice, or re-issue), a
    pending correction (to credit), or returned from a rejected invoice.
    An approved item that is not billable and carries no exception stops
    there (BILLING_RULES: non-billable items stop at approved)."""
    if item.pending_correction is not None or item.reissue_of is not None:
        return True
    if item.state not in (APPROVED, BILLABLE):
        return False
    return item.is_billable_kind or item.exception is not None


def row_of(aggregate: LedgerAggregate) -> ItemStateRow | None:
    """The index row of a work item or project (None for other kinds)."""
    project, work_item = _classes()
    if isinstance(aggregate, project):
        return ItemStateRow(
            project.KIND, aggregate.business_id, aggregate.id.hex, aggregate.version,
            None, aggregate.contract_id, "project", "", None, 0,
        )  # fmt: skip
    if not isinstance(aggregate, work_item):
        return None
    day = aggregate.item_date
    invoice = aggregate.invoice_number if aggregate.state in (INVOICED, POSTED) else None
    return ItemStateRow(
        aggregate.KIND,
        aggregate.business_id,
        aggregate.id.hex,
        aggregate.version,
        aggregate.project_id,
        None,
        aggregate.state,
        day.isoformat()[:7] if day is not None else "",
        invoice or aggregate.reissue_of,
        int(can_change_an_invoice(aggregate)),
    )


def rows_for(aggregates: Iterable[LedgerAggregate]) -> list[ItemStateRow]:
    """The rows of the items and projects among these that changed (have
    pending events): what a unit of work writes beside its events."""
    out = []
    indexed = kinds()
    for aggregate in aggregates:
        if aggregate.KIND in indexed and aggregate.pending_events:
            row = row_of(aggregate)
            if row is not None:
                out.append(row)
    return out


def upsert(placeholder: str) -> str:
    """Insert or update a row; an older version never overwrites a newer one."""
    marks = ", ".join([placeholder] * 10)
    updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS.split(", ")[2:])
    return (
        f"INSERT INTO {TABLE} VALUES ({marks}) ON CONFLICT (kind, business_id) DO UPDATE SET "
        f"{updates} WHERE excluded.version > {TABLE}.version"
    )


def writes(
    placeholder: str, rows: Sequence[ItemStateRow]
) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """(statement, parameter rows) for `LedgerTables.writes`."""
    if not rows:
        return []
    params = [
        (r.kind, r.business_id, r.aggregate_id, r.version, r.project_id, r.contract_id,
         r.state, r.month, r.invoice_ref, r.open)
        for r in rows
    ]  # fmt: skip
    return [(upsert(placeholder), params)]


Fetch = Callable[[str, Sequence[Any]], list[tuple[Any, ...]]]
WriteMany = Callable[[str, list[tuple[Any, ...]]], None]


class IndexReader:
    """Reads the index (and finds what it does not reflect yet) in one dialect."""

    def __init__(self, fetch: Fetch, postgres: bool, events_table: str) -> None:
        self.fetch = fetch
        self.p = "%s" if postgres else "?"
        self.postgres = postgres
        self.events_table = events_table

    @classmethod
    def of(cls, app: Any) -> IndexReader:
        table, postgres = events_table(app.recorder)
        return cls(app.recorder.fetch, postgres, table)

    def stale(self) -> list[tuple[str, str]]:
        """(kind, id) of the items and projects whose row is missing or
        older than their last event."""
        kinds_in = ", ".join(f"'{k}'" for k in kinds())
        agg = "s.aggregate_id::uuid" if self.postgres else "s.aggregate_id"
        missing = self.fetch(
            f"SELECT e.kind, e.business_id FROM psledger_entities e LEFT JOIN {TABLE} s "
            "ON s.kind = e.kind AND s.business_id = e.business_id "
            f"WHERE e.kind IN ({kinds_in}) AND s.business_id IS NULL",
            (),
        )
        behind = self.fetch(
            f"SELECT DISTINCT s.kind, s.business_id FROM {TABLE} s JOIN {self.events_table} ev "
            f"ON ev.originator_id = {agg} AND ev.originator_version > s.version",
            (),
        )
        return sorted({(str(k), str(i)) for k, i in [*missing, *behind]})

    def version_of(self, kind: str, business_id: str) -> int:
        """The aggregate version a row reflects (-1: no row)."""
        rows = self.fetch(
            f"SELECT version FROM {TABLE} WHERE kind = {self.p} AND business_id = {self.p}",
            (kind, business_id),
        )
        return int(rows[0][0]) if rows else -1

    def open_items_by_contract(self) -> dict[str, int]:
        """How many open items each contract's projects have (a contract
        with none is not named): the weight of its billing run."""
        rows = self.fetch(
            f"SELECT p.contract_id, COUNT(*) FROM {TABLE} i JOIN {TABLE} p "
            "ON p.kind = 'project' AND p.business_id = i.project_id "
            "WHERE i.open = 1 AND i.kind <> 'project' GROUP BY p.contract_id",
            (),
        )
        return {str(contract): int(count) for contract, count in rows if contract is not None}

    def projects_of(self, contract_id: str) -> list[str]:
        rows = self.fetch(
            f"SELECT business_id FROM {TABLE} WHERE kind = 'project' AND contract_id = {self.p} "
            "ORDER BY business_id",
            (contract_id,),
        )
        return [str(r[0]) for r in rows]

    def book_items(
        self, contract_id: str, project_ids: Sequence[str], retainer: bool
    ) -> list[tuple[str, str]]:
        """(kind, id) of the items a contract's billing run must see: the open
        items of its projects, the open items on (or returning from) its
        invoices wherever they bill now, and, on a retainer contract, the
        invoiced time on its invoices in the months its open time falls in
        (the included hours they already drew)."""
        p = self.p
        on_invoices = (
            f"invoice_ref IN (SELECT business_id FROM psledger_entities "
            f"WHERE kind = 'invoice' AND parent_id = {p})"
        )
        found: set[tuple[str, str]] = set()
        for start in range(0, len(project_ids), 500):
            chunk = list(project_ids[start : start + 500])
            marks = ", ".join([p] * len(chunk))
            rows = self.fetch(
                f"SELECT kind, business_id FROM {TABLE} WHERE open = 1 AND project_id IN ({marks})",
                chunk,
            )
            found.update((str(k), str(i)) for k, i in rows)
            if retainer:
                rows = self.fetch(
                    f"SELECT kind, business_id FROM {TABLE} WHERE kind = 'time_entry' "
                    f"AND state IN ('invoiced', 'posted') AND {on_invoices} AND month IN "
                    f"(SELECT month FROM {TABLE} WHERE kind = 'time_entry' AND open = 1 "
                    f"AND project_id IN ({marks}))",
                    [contract_id, *chunk],
                )
                found.update((str(k), str(i)) for k, i in rows)
        rows = self.fetch(
            f"SELECT kind, business_id FROM {TABLE} WHERE open = 1 AND {on_invoices}",
            (contract_id,),
        )
        found.update((str(k), str(i)) for k, i in rows)
        return sorted(found)


def refresh(
    index: IndexReader, events: EventReader, write_many: WriteMany, page: int = PAGE
) -> int:
    """Bring the rows of what `index.stale()` finds up to date, a page of
    aggregates at a time (bounded memory); the number of rows written."""
    written = 0
    wanted = index.stale()
    for start in range(0, len(wanted), page):
        chunk = wanted[start : start + page]
        ids = sorted(kinds()[kind].id_for(business_id) for kind, business_id in chunk)
        rows = [r for _, a in events.aggregates(ids) if a is not None and (r := row_of(a))]
        for statement, params in writes(index.p, rows):
            write_many(statement, params)
        written += len(rows)
    return written


def backfill(ctx: Any) -> None:
    """Migration 8's Python step: a row for every item and project already
    stored, in pages, in the migration's transaction."""
    table, postgres = events_table(ctx.recorder)
    events = EventReader(ctx.fetchall, ctx.mapper, table, postgres)
    refresh(IndexReader(ctx.fetchall, postgres, table), events, ctx.executemany)
