"""Streaming reads of the materialised views (psledger/read_side.py).

A listing reads its view in the order it prints, so its memory is a page
or a batch whatever the history: invoices (indexed by period and number,
each with its lines) in keyset pages of `INVOICE_PAGE`; items (whose view
has no index in that order) in one sorted query streamed from a snapshot
(psledger.store.snapshot), the table from the columns it shows. Ordering
is by code point on both stores (PostgreSQL sorts `COLLATE "C"`), as
Python sorts strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from itertools import islice
from typing import Any

import orjson

from domain.errors import UnknownEntity
from projections.read.tables import SORT_LAST
from psledger.app import LedgerApplication
from psledger.store.snapshot import ReadSnapshot

INVOICE_PAGE = 100


class ViewReader:
    """Pages of one view's rows in one store's dialect."""

    def __init__(self, app: LedgerApplication, reads: ReadSnapshot | None = None) -> None:
        """With `reads`, every read is in that snapshot (else each in its own)."""
        self.app = app
        self.reads = reads
        self.fetch = reads.fetch if reads is not None else app.fetch
        self.p = app.tables.d.placeholder
        self.collate = ' COLLATE "C"' if app.tables.d.name == "postgres" else ""

    def _filters(self, filters: dict[str, str | None]) -> tuple[list[str], list[Any]]:
        wanted = {k: v for k, v in filters.items() if v is not None}
        return [f"{column} = {self.p}" for column in wanted], list(wanted.values())

    def pages(
        self,
        table: str,
        columns: Sequence[str],
        keys: Sequence[str],
        where: list[str],
        params: list[Any],
        page: int,
    ) -> Iterator[tuple[Any, ...]]:
        """Rows of `columns` (the keys first) in key order, a page at a time."""
        order = ", ".join(f"{k}{self.collate}" for k in keys)
        after: tuple[Any, ...] | None = None
        while True:
            clauses, values = list(where), list(params)
            if after is not None:
                clauses.append(self._after(keys))
                values.extend(v for i in range(len(keys)) for v in [*after[:i], after[i]])
            sql = f"SELECT {', '.join([*keys, *columns])} FROM {table}"
            if clauses:
                sql += " WHERE " + " AND ".join(clauses)
            rows = self.fetch(f"{sql} ORDER BY {order} LIMIT {page}", values)
            yield from rows
            if len(rows) < page:
                return
            after = tuple(rows[-1][: len(keys)])

    def _after(self, keys: Sequence[str]) -> str:
        """Keys after the last row's: (k1 > a) OR (k1 = a AND k2 > b) OR ..."""
        terms = []
        for i, key in enumerate(keys):
            equal = [f"{k}{self.collate} = {self.p}" for k in keys[:i]]
            terms.append("(" + " AND ".join([*equal, f"{key}{self.collate} > {self.p}"]) + ")")
        return "(" + " OR ".join(terms) + ")"

    # -- invoices ----------------------------------------------------------------

    def invoices(
        self,
        column: str = "view",
        *,
        contract: str | None = None,
        period: str | None = None,
        state: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Each invoice's view (or ERP payload, `column="erp"`), by period
        then number."""
        assert column in ("view", "erp")
        where, params = self._filters({"contract_id": contract, "period": period, "state": state})
        keys = ["period", "number"]
        for row in self.pages(
            "psledger_view_invoices", [column], keys, where, params, INVOICE_PAGE
        ):
            found: dict[str, Any] = orjson.loads(row[2])
            yield found

    def invoice_summaries(
        self, *, contract: str | None = None, period: str | None = None, state: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each invoice's view without its lines, and "line_count", by period
        then number: no line is read."""
        where, params = self._filters({"contract_id": contract, "period": period, "state": state})
        keys = ["period", "number"]
        for row in self.pages(
            "psledger_view_invoices", ["summary", "line_count"], keys, where, params, INVOICE_PAGE
        ):
            found: dict[str, Any] = orjson.loads(row[2])
            found["line_count"] = int(row[3])
            yield found

    # -- items -------------------------------------------------------------------

    def _item_filters(
        self, state: str | None, exception: str | None
    ) -> tuple[list[str], list[Any]]:
        where, params = self._filters({"state": state})
        if exception is not None:
            where.append("exception_code IS NOT NULL")
            if exception != "any":
                where.append(f"exception_code = {self.p}")
                params.append(exception)
        return where, params

    @contextmanager
    def items(
        self, *, state: str | None = None, exception: str | None = None
    ) -> Iterator[Iterator[dict[str, Any]]]:
        """Each work item's view by date, kind and id; `exception` is a code
        or "any". Streamed from one snapshot, open while in the `with`."""
        sql, params = self._item_query(["view"], state, exception)
        with self._snapshot() as snapshot:
            yield (orjson.loads(view) for (view,) in snapshot.stream(sql, params))

    @contextmanager
    def item_listing(
        self, *, state: str | None = None, exception: str | None = None
    ) -> Iterator[tuple[list[int], Iterator[tuple[str, ...]]]]:
        """The items table's column widths (its cells' longest, in characters;
        all 0 when no item matches) and its rows, (kind, id, project, date,
        state, exception, invoice) in the items' order, read from the view's
        columns (no JSON). Both from one snapshot, the rows streamed: the
        listing holds a batch whatever the history."""
        widths_sql, sql, params = self.item_listing_queries(state, exception)
        with self._snapshot() as snapshot:
            (found,) = snapshot.fetch(widths_sql, params)
            yield [int(w or 0) for w in found], snapshot.stream(sql, params)

    def item_listing_queries(
        self, state: str | None = None, exception: str | None = None
    ) -> tuple[str, str, list[Any]]:
        """The items table's two statements and their parameters: its column
        widths, and its rows in order (read, unfiltered, from the listing
        index alone: projections.read.tables.ITEM_LISTING_INDEX)."""
        shown = [_shown(c) for c in ITEM_COLUMNS]
        longest = [f"MAX(LENGTH({c}))" for c in shown]
        widths_sql, params = self._item_query(longest, state, exception, ordered=False)
        sql, _ = self._item_query(shown, state, exception)
        return widths_sql, sql, params

    def _snapshot(self) -> AbstractContextManager[ReadSnapshot]:
        return nullcontext(self.reads) if self.reads is not None else self.app.snapshot()

    def _item_query(
        self, columns: list[str], state: str | None, exception: str | None, ordered: bool = True
    ) -> tuple[str, list[Any]]:
        where, params = self._item_filters(state, exception)
        sql = f"SELECT {', '.join(columns)} FROM psledger_view_items"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if ordered:
            sql += " ORDER BY " + ", ".join(f"{k}{self.collate}" for k in ITEM_ORDER)
        return sql, params


# The items table's columns, as the view stores them, and the items' order.
ITEM_COLUMNS = (
    "kind",
    "id",
    "project_id",
    "sort_date",
    "state",
    "exception_code",
    "invoice_number",
)
ITEM_ORDER = ("sort_date", "kind", "id")


def _shown(column: str) -> str:
    """A column as the table shows it: nothing for NULL or the undated sort key."""
    if column == "sort_date":
        return f"(CASE WHEN sort_date = '{SORT_LAST}' THEN '' ELSE sort_date END)"
    return f"COALESCE({column}, '')"


def _where(p: str, filters: dict[str, str | None]) -> tuple[str, list[str]]:
    wanted = {k: v for k, v in filters.items() if v is not None}
    clause = " AND ".join(f"{column} = {p}" for column in wanted)
    return (f" WHERE {clause}" if clause else ""), list(wanted.values())


def invoice_rows(
    app: LedgerApplication,
    column: str = "view",
    *,
    contract: str | None = None,
    period: str | None = None,
    state: str | None = None,
) -> list[dict[str, Any]]:
    """Invoices from the invoices view, by period then number: each one's
    view (`column="view"`, what `invoices --format json` prints), ERP
    payload (`column="erp"`) or view without its lines (`column="summary"`)."""
    assert column in ("view", "erp", "summary")
    where, params = _where(
        app.tables.d.placeholder, {"contract_id": contract, "period": period, "state": state}
    )
    rows = app.fetch(f"SELECT period, number, {column} FROM psledger_view_invoices{where}", params)
    return [orjson.loads(row[2]) for row in sorted(rows, key=lambda r: (r[0], r[1]))]


def invoice_row(app: LedgerApplication, number: str, column: str = "view") -> dict[str, Any]:
    """One invoice from the invoices view (its view or its ERP payload)."""
    assert column in ("view", "erp")
    p = app.tables.d.placeholder
    rows = app.fetch(f"SELECT {column} FROM psledger_view_invoices WHERE number = {p}", [number])
    if not rows:
        raise UnknownEntity(f"invoice {number} is not known to the ledger")
    found: dict[str, Any] = orjson.loads(rows[0][0])
    return found


def json_array(values: Iterator[Any], batch: int = 1000) -> Iterator[str]:
    """The text `orjson.dumps(list(values), option=OPT_INDENT_2)` would be,
    `batch` values at a time: each batch dumped as a list, its brackets
    dropped (its values are indented as in the whole list's)."""
    first = True
    while chunk := list(islice(values, batch)):
        text = orjson.dumps(chunk, option=orjson.OPT_INDENT_2).decode()
        yield ("[\n" if first else ",\n") + text[2:-2]
        first = False
    yield "[]" if first else "\n]"
