"""Plain-text rendering for the CLI: tables and summaries."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Columns padded to their widest cell (numbers right-aligned), a rule
    under the headers. Worked out a column at a time, and each line formatted
    in one call (`streamed_table`): a listing of 100k items spends little here."""
    columns = [
        column if set(map(type, column)) <= {str} else ["" if v is None else str(v) for v in column]
        for column in zip(*rows, strict=True)
    ] or [[] for _ in headers]
    widths = [max(map(len, column), default=0) for column in columns]
    numeric = [bool(column) and all(map(_is_number, column)) for column in columns]
    text = "".join(streamed_table(headers, widths, zip(*columns, strict=True), numeric))
    return text[:-1]  # without the last line's newline


def table_shape(
    headers: Sequence[str], rows: Iterable[Sequence[Any]]
) -> tuple[list[int], list[bool], int]:
    """What `table` works out, in one pass over rows that need not be held:
    each column's width, whether every cell of it is a number (then it is
    right-aligned), and the number of rows."""
    widths = [len(str(h)) for h in headers]
    numeric = [True] * len(widths)
    count = 0
    for row in rows:
        count += 1
        for i, value in enumerate(row):
            text = "" if value is None else str(value)
            widths[i] = max(widths[i], len(text))
            numeric[i] = numeric[i] and _is_number(text)
    return widths, [n and count > 0 for n in numeric], count


def streamed_table(
    headers: Sequence[str],
    widths: Sequence[int],
    rows: Iterable[Sequence[str]],
    right: Sequence[bool] = (),
    batch: int = 1000,
) -> Iterator[str]:
    """`table` of text cells whose widest cells are known beforehand (and
    which columns are right-aligned; none unless said): the text `batch`
    lines at a time, each line ending in a newline, so that a listing of
    any length is printed holding one batch."""
    names = [str(h) for h in headers]
    widths = [max(len(name), width) for name, width in zip(names, widths, strict=True)]
    aligned = list(right) or [False] * len(widths)
    line = "  ".join(
        f"{{:{'>' if r else '<'}{width}}}" for r, width in zip(aligned, widths, strict=True)
    ).format
    lines = [line(*names).rstrip(), "  ".join("-" * w for w in widths)]
    for row in rows:
        lines.append(line(*row).rstrip())
        if len(lines) >= batch:
            yield "\n".join(lines) + "\n"
            lines = []
    if lines:
        yield "\n".join(lines) + "\n"


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except ArithmeticError:
        return False
    return text != ""


INVOICE_HEADERS = (
    "number",
    "kind",
    "contract",
    "period",
    "state",
    "currency",
    "net",
    "tax",
    "gross",
    "lines",
)


def invoice_cells(view: dict[str, Any]) -> tuple[str, ...]:
    """An invoice's row of the invoices table, as text."""
    lines = view["line_count"] if "line_count" in view else len(view.get("lines", []))
    values = (
        view["number"],
        view["kind"],
        view["contract_id"],
        view["period"],
        view["state"],
        view["currency"],
        view["net"],
        view["tax"],
        view["gross"],
        lines,
    )
    return tuple("" if v is None else str(v) for v in values)


def invoices_table(views: Sequence[dict[str, Any]]) -> str:
    return table(INVOICE_HEADERS, [invoice_cells(v) for v in views])


def invoice_lines_table(view: dict[str, Any]) -> str:
    rows = [
        (
            ln.get("line_no"),
            ln.get("item_kind"),
            ln.get("item_id") or "",
            ln.get("part"),
            ln.get("category"),
            ln.get("quantity"),
            ln.get("unit_price"),
            ln.get("net"),
            ln.get("source") or "",
            _approval(ln),
        )
        for ln in view.get("lines", [])
    ]
    return table(
        (
            "line",
            "kind",
            "item",
            "part",
            "category",
            "qty",
            "unit price",
            "net",
            "source",
            "approved",
        ),
        rows,
    )


def _approval(line: dict[str, Any]) -> str:
    """Who approved the line's item, and the source change that approved it."""
    by, where = line.get("approved_by"), line.get("approval_source")
    return " ".join(str(part) for part in (by, f"({where})" if where else None) if part)


def history_table(entries: Sequence[dict[str, Any]]) -> str:
    rows = []
    for e in entries:
        data = e["data"]
        brief = ", ".join(f"{k}={_brief(v)}" for k, v in data.items())
        rows.append(
            (
                e["recorded_at"][:19],
                e["entity"],
                e["event"],
                e["actor"] or "",
                e["source"] or "",
                brief[:90],
            )
        )
    return table(("when (UTC)", "entity", "event", "who", "source", "what"), rows)


def _brief(value: Any) -> str:
    if isinstance(value, dict):
        return (
            "{"
            + ", ".join(f"{k}: {_brief(v)}" for k, v in list(value.items())[:4])
            + (", ..." if len(value) > 4 else "")
            + "}"
        )
    if isinstance(value, list):
        return f"[{len(value)} items]"
    return str(value)
