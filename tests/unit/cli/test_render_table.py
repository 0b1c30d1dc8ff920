"""The CLI's tables: each column padded to its widest cell, numbers to the
right; a streamed table (text, left-aligned) is the same text in batches."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from psledger.render import streamed_table, table, table_shape


def cell_by_cell(headers: list[str], rows: list[list[Any]], numbers_right: bool = True) -> str:
    """The table as a person would pad it, one cell at a time: the reference."""
    cells = [list(headers)] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def number(text: str) -> bool:
        try:
            Decimal(text)
        except ArithmeticError:
            return False
        return text != ""

    right = [
        numbers_right and bool(rows) and all(number(r[i]) for r in cells[1:])
        for i in range(len(headers))
    ]
    lines = []
    for n, row in enumerate(cells):
        padded = [c.rjust(widths[i]) if right[i] else c.ljust(widths[i]) for i, c in enumerate(row)]
        lines.append("  ".join(padded).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


values = st.one_of(
    st.none(),
    st.text(max_size=12),
    st.integers(),
    st.decimals(allow_nan=False, allow_infinity=False, places=2),
    st.sampled_from(["", " ", "{}", "{0}", "%d", "NaN", "1e3", "-0.50"]),
)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[Any]]]:
    width = draw(st.integers(min_value=1, max_value=5))
    headers = draw(st.lists(st.text(max_size=8), min_size=width, max_size=width))
    column = st.lists(values, min_size=width, max_size=width)
    kinds = draw(st.sampled_from(["mixed", "numbers", "text"]))
    if kinds == "numbers":
        column = st.lists(
            st.integers() | st.decimals(places=2, allow_nan=False, allow_infinity=False),
            min_size=width,
            max_size=width,
        )
    elif kinds == "text":
        column = st.lists(st.text(max_size=10), min_size=width, max_size=width)
    return headers, draw(st.lists(column, max_size=6))


@settings(max_examples=500, deadline=None)
@given(tables())
def test_a_table_is_its_cells_padded_one_by_one(drawn: tuple[list[str], list[list[Any]]]) -> None:
    headers, rows = drawn
    assert table(headers, rows) == cell_by_cell(headers, rows)


def test_numbers_are_right_aligned_and_text_left_aligned_under_a_rule() -> None:
    assert table(("id", "net"), [("A-1", Decimal("5.00")), ("B", 120)]).splitlines() == [
        "id    net",
        "---  ----",
        "A-1  5.00",
        "B     120",
    ]
    assert table(("view", ""), []).splitlines() == ["view", "----  "]


@settings(max_examples=500, deadline=None)
@given(tables(), st.integers(min_value=1, max_value=4))
def test_a_streamed_table_prints_its_cells_padded_one_by_one_in_batches(
    drawn: tuple[list[str], list[list[Any]]], batch: int
) -> None:
    """Given each column's widest cell, the batches join to the cells padded
    left, and a batch holds `batch` lines (the first: the header and rule too)."""
    headers, rows = drawn
    text = [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max([0, *(len(row[i]) for row in text)]) for i in range(len(headers))]
    chunks = list(streamed_table(headers, widths, iter(text), batch=batch))
    assert "".join(chunks) == cell_by_cell(headers, text, numbers_right=False) + "\n"
    assert all(chunk.endswith("\n") for chunk in chunks)
    assert len(chunks) >= (len(text) + 2) // max(batch, 3)


@settings(max_examples=500, deadline=None)
@given(tables(), st.integers(min_value=1, max_value=4))
def test_a_table_shaped_in_one_pass_then_streamed_is_the_table(
    drawn: tuple[list[str], list[list[Any]]], batch: int
) -> None:
    """Two passes over rows that are not held (the invoices listing) print
    what `table` prints from rows held: widths, numbers to the right."""
    headers, rows = drawn
    widths, right, count = table_shape(headers, iter(rows))
    assert count == len(rows)
    text = (["" if v is None else str(v) for v in row] for row in rows)
    streamed = "".join(streamed_table(headers, widths, text, right, batch=batch))
    assert streamed == table(headers, rows) + "\n"
