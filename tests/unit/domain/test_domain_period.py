"""Billing periods are calendar months written YYYY-MM; anything else is
refused with one line naming the text."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import InputError
from domain.period import Period


@pytest.mark.parametrize(
    "text", ["0000-10", "2026-00", "2026-13", "2026-1", "26-01", "", "2026-01x"]
)
def test_anything_but_a_calendar_month_is_refused(text: str) -> None:
    with pytest.raises(InputError, match=f"period {text!r} is not a month written YYYY-MM"):
        Period.parse(text)


@pytest.mark.parametrize(
    ("text", "first", "last"),
    [
        ("0001-01", date(1, 1, 1), date(1, 1, 31)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("9999-12", date(9999, 12, 1), date(9999, 12, 31)),
    ],
)
def test_a_month_has_its_first_and_last_day(text: str, first: date, last: date) -> None:
    period = Period.parse(text)
    assert (period.first_day, period.last_day, str(period)) == (first, last, text)
