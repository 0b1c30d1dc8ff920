"""Values that break money arithmetic: one bad item is an exception on that
item (`invalid_amount`), never a failed billing run.

The boundary refuses such values today, but the store may hold some from
before it did (hours of 1E+30 make `round_money` raise InvalidOperation), and
contract terms can carry them too. Billing screens items and terms with
these checks, and guards each item's pricing with `ARITHMETIC_ERRORS`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.contract import ContractTerms
from domain.money import round_money
from domain.work_item import WorkItem

INVALID_AMOUNT = "invalid_amount"

# What reading or computing with a bad stored value raises: decimal's
# InvalidOperation and Overflow are ArithmeticErrors; Decimal(None) is a
# TypeError; a missing field a KeyError.
ARITHMETIC_ERRORS: tuple[type[Exception], ...] = (ArithmeticError, TypeError, ValueError, KeyError)

_AMOUNT_FIELDS = ("hours", "amount")
# Terms that end up rounded to money, and terms that are only compared and
# subtracted (for those, only NaN breaks anything: a huge cap is just high).
_ROUNDED_TERMS = ("expense_markup_pct", "monthly_fee")
_COMPARED_TERMS = ("included_hours", "not_to_exceed")


def _problem(value: Any, currency: str, *, rounded: bool = True) -> str | None:
    """Why a stored number cannot take part in money arithmetic, if it cannot."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        if number.is_nan():
            return "is not a number"
        if rounded:
            if not number.is_finite():
                return "is not a finite number"
            round_money(number, currency)
    except ARITHMETIC_ERRORS as exc:
        return f"breaks the arithmetic ({type(exc).__name__})"
    return None


def item_problem(item: WorkItem, currency: str) -> str | None:
    """The first amount of an item (hours, amount) that breaks arithmetic."""
    for name in _AMOUNT_FIELDS:
        if name not in item.fields:
            continue
        value = item.fields[name]
        problem = "is missing" if value is None else _problem(value, currency)
        if problem is not None:
            return f"{item.label}: {name} {value!r} {problem}"
    return None


def terms_problem(contract_label: str, terms: ContractTerms) -> str | None:
    """The first term of a contract version that breaks arithmetic."""
    values: list[tuple[str, Any, bool]] = [(n, getattr(terms, n), True) for n in _ROUNDED_TERMS]
    values += [(n, getattr(terms, n), False) for n in _COMPARED_TERMS]
    values += [
        (f"milestone {m} amount", spec.get("amount"), True) for m, spec in terms.milestones.items()
    ]
    for name, value, rounded in values:
        if value is None:
            continue
        problem = _problem(value, terms.currency, rounded=rounded)
        if problem is not None:
            return f"{contract_label} version {terms.version}: {name} {value!r} {problem}"
    return None


def failure(item: WorkItem, exc: Exception) -> str:
    """The reason of an invalid_amount raised while pricing an item."""
    amounts = ", ".join(f"{n}={item.fields[n]!r}" for n in _AMOUNT_FIELDS if n in item.fields)
    detail = f" ({amounts})" if amounts else ""
    return f"{item.label}: pricing breaks the arithmetic ({type(exc).__name__}){detail}"
