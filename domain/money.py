"""Money arithmetic: Decimal only, rounded half-up to the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from domain.errors import InputError

MINOR_UNITS: dict[str, int] = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3}
ZERO = Decimal("0")


def minor_unit(currency: str) -> int:
    return MINOR_UNITS.get(currency, 2)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half-up to the currency's minor unit (2 places for GBP, EUR, USD)."""
    quantum = Decimal(1).scaleb(-minor_unit(currency))
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)


def to_decimal(value: object, what: str) -> Decimal:
    """Read a decimal from a string or int; floats are refused (no binary money)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation:
            raise InputError(f"{what}: {value!r} is not a decimal number") from None
    else:
        raise InputError(f"{what}: expected a decimal string, got {type(value).__name__}")
    if not result.is_finite():
        raise InputError(f"{what}: {value!r} is not a finite number")
    return result


def check_currency(code: object, what: str) -> str:
    if not isinstance(code, str) or len(code) != 3 or not code.isalpha() or not code.isupper():
        raise InputError(f"{what}: {code!r} is not an ISO 4217 currency code")
    return code
