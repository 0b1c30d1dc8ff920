"""The trace's read leaves the order to Python (`TRACE_READ` has no ORDER
BY): whatever order the database returns its rows in, `trace_rows` gives
the head, the invoice's events by version, and the items' events by line
and version."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from projections.read.recorders import ViewWriter

HEAD = (0, 0, 0, None, None, "2026-02-01T00:00:00+00:00", '{"invoice":"N"}', "[]")
INVOICE_EVENTS = [(1, 0, v, None, None, None, f"inv-{v}", None) for v in (1, 2, 3)]
ITEM_EVENTS = [
    (2, line, v, f"E{v}", "N", "2026-01-31T00:00:00+00:00", f"item-{line}-{v}", None)
    for line in (1, 2, 10)
    for v in (1, 2, 3, 4)
]


class RowsAsTheDatabaseGaveThem(ViewWriter):
    """`select` answers these rows, in the order given."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def select(self, statement: str, params: list[Any]) -> list[Any]:
        return list(self.rows)


@given(st.randoms(use_true_random=False))
def test_the_rows_come_back_in_trace_order_whatever_the_database_order(
    rng: random.Random,
) -> None:
    rows = [HEAD, *INVOICE_EVENTS, *ITEM_EVENTS]
    rng.shuffle(rows)
    head, events, items = RowsAsTheDatabaseGaveThem(rows).trace_rows("N")
    assert head == (HEAD[5], HEAD[6], HEAD[7])
    assert events == [(f"inv-{v}",) for v in (1, 2, 3)]
    assert [entry for *_, entry in items] == [
        f"item-{line}-{v}" for line in (1, 2, 10) for v in (1, 2, 3, 4)
    ]
    assert [line for line, *_ in items] == [line for line in (1, 2, 10) for _ in range(4)]


def test_an_invoice_the_view_does_not_hold_has_no_rows() -> None:
    assert RowsAsTheDatabaseGaveThem(list(ITEM_EVENTS)).trace_rows("N") == (None, [], [])
