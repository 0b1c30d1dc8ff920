"""Billing periods: calendar months written YYYY-MM."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from domain.errors import InputError

_YYYY_MM = re.compile(r"\d{4}-\d{2}")


@dataclass(frozen=True, order=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        try:
            if not _YYYY_MM.fullmatch(text):
                raise ValueError
            year, month = (int(part) for part in text.split("-"))
            if not 1 <= month <= 12 or year < 1:  # there is no year 0 (`date` refuses it)
                raise ValueError
        except ValueError:
            raise InputError(f"period {text!r} is not a month written YYYY-MM") from None
        return cls(year, month)

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, calendar.monthrange(self.year, self.month)[1])

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
