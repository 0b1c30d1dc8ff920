"""Streaming reads of the materialised views (psledger/read_side.py).

A listing reads its view in keyset pages, in the order it prints, so its
memory is a page whatever the history: invoices (indexed by period and
number, each with its lines) `INVOICE_PAGE` at a time; items (whose view
has no index in that order) as their keys in order, then their views by
key `ITEM_PAGE` at a time. The items table reads only the columns it
shows, in one query. Ordering is by code point on both stores (PostgreSQL
sorts `COLLATE "C"`), as Python sorts strings.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import orjson

from domain.errors import UnknownEntity
from projections.read.tables import SORT_LAST
from psledger.app import LedgerApplication

INVOICE_PAGE = 100
ITEM_PAGE = 500


class ViewReader:
    """Pages of one view's rows in one store's dialect."""

    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
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
            rows = self.app.fetch(f"{sql} ORDER BY {order} LIMIT {page}", values)
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

    def items(
        self, *, state: str | None = None, exception: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Each work item's view by date, kind and id; `exception` is a code or "any"."""
        where, params = self._item_filters(state, exception)
        keys = ["sort_date", "kind", "id"]
        sql = "SELECT kind, id FROM psledger_view_items"
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = ", ".join(f"{k}{self.collate}" for k in keys)
        # the keys in order (small), then the views by key a page at a time
        ordered = [(str(k), str(i)) for k, i in self.app.fetch(f"{sql} ORDER BY {order}", params)]
        p = self.p
        for start in range(0, len(ordered), ITEM_PAGE):
            page = ordered[start : start + ITEM_PAGE]
            match = " OR ".join([f"(kind = {p} AND id = {p})"] * len(page))
            rows = self.app.fetch(
                f"SELECT kind, id, view FROM psledger_view_items WHERE {match}",
                [v for key in page for v in key],
            )
            views = {(str(k), str(i)): view for k, i, view in rows}
            for key in page:
                found: dict[str, Any] = orjson.loads(views[key])
                yield found

    def item_lines(
        self, *, state: str | None = None, exception: str | None = None
    ) -> Iterator[tuple[str, str, str, str, str, str, str]]:
        """(kind, id, project, date, state, exception, invoice) of each item,
        in the same order, from the view's columns (no JSON read)."""
        where, params = self._item_filters(state, exception)
        keys = ["sort_date", "kind", "id"]
        columns = ["project_id", "state", "exception_code", "invoice_number"]
        sql = f"SELECT {', '.join([*keys, *columns])} FROM psledger_view_items"
        if where:
            sql += " WHERE " + " AND ".join(where)
        order = ", ".join(f"{k}{self.collate}" for k in keys)
        for day, kind, item_id, project, item_state, code, invoice in self.app.fetch(
            f"{sql} ORDER BY {order}", params
        ):
            shown = "" if day == SORT_LAST else str(day)
            yield (kind, item_id, project or "", shown, item_state, code or "", invoice or "")


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
