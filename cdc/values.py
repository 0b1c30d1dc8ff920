"""Typed column values: one converter shared by the JSON and the Avro decoders.

A ``ColumnType`` says how a column's wire value is to be read. The decoders
derive it from the Connect (JSON) or Avro schema when there is one, or take it
from the mapping layer's ``column_types`` for schemaless JSON.

A ``ColumnType`` may also carry the column's declared ``Limits`` (from the
mapping: NUMERIC(precision, scale) and CHECK bounds). Every value read for it
is checked against them at the door, so a value that would break arithmetic
later is refused here, with its reason:

    decimal_nan         NaN or an infinity
    value_out_of_range  |value| >= 10^(precision - scale), or outside the bounds
    bad_scale           more decimal places than the declared scale, or a
                        schema whose decimal scale contradicts it (the value
                        is refused, never rescaled or rounded)
    nul_byte            a string holding NUL (PostgreSQL text cannot store it)
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from cdc.errors import DecodeError
from cdc.records import UNAVAILABLE

Kind = Literal["decimal", "date", "timestamp", "time", "text", "int", "bool", "raw"]
Unit = Literal["ms", "us", "ns", "iso"]

PLACEHOLDER = "__debezium_unavailable_value"
_PLACEHOLDER_BYTES = PLACEHOLDER.encode()
_PLACEHOLDER_B64 = base64.b64encode(_PLACEHOLDER_BYTES).decode()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # timestamps without zone are read as UTC
_EPOCH_DAY = date(1970, 1, 1)
_NUMERIC = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True)
class Limits:
    """What a numeric column accepts: its declared NUMERIC(precision, scale) and
    CHECK bounds (``gt``/``ge``/``lt``/``le``; None = unbounded)."""

    precision: int | None
    scale: int | None
    gt: Decimal | None = None
    ge: Decimal | None = None
    lt: Decimal | None = None
    le: Decimal | None = None

    def describe(self) -> str:
        if self.precision is not None:
            declared = f"numeric({self.precision},{self.scale})"
        else:
            declared = "int" if self.scale == 0 else "numeric"
        bounds = [
            f"{op} {bound}"
            for op, bound in ((">", self.gt), (">=", self.ge), ("<", self.lt), ("<=", self.le))
            if bound is not None
        ]
        return declared + (f" {' and '.join(bounds)}" if bounds else "")


@dataclass(frozen=True, slots=True)
class ColumnType:
    """How to read one column.

    ``scale`` is the decimal scale of Connect Decimal bytes. ``unit`` is the
    epoch unit of a timestamp/time (``iso`` for strings such as ZonedTimestamp;
    aware UTC results), ``encoding`` tells decimal bytes (base64 in JSON) from
    numeric strings when a bare value could be either. ``limits`` is what the
    mapping declares the column accepts; a value outside them is refused.
    """

    kind: Kind
    scale: int | None = None
    unit: Unit | None = None
    encoding: Literal["auto", "bytes", "string"] = "auto"
    limits: Limits | None = None


ColumnTypes = Mapping[str, Mapping[str, ColumnType]]
"""``{table: {column: ColumnType}}``; table as ``name`` or ``schema.name``."""

RAW = ColumnType("raw")


_PLACEHOLDERS = (PLACEHOLDER, _PLACEHOLDER_B64, _PLACEHOLDER_BYTES)
_PLACEHOLDER_TEXTS = (PLACEHOLDER, _PLACEHOLDER_B64)


def is_placeholder(value: object) -> bool:
    """True when ``value`` is Debezium's TOAST placeholder in any wire form."""
    return value in _PLACEHOLDERS


def decimal_from_bytes(data: bytes, scale: int) -> Decimal:
    """Exact Decimal from big-endian two's-complement unscaled bytes."""
    unscaled = int.from_bytes(data, "big", signed=True)
    digits = tuple(int(c) for c in str(abs(unscaled)))
    return Decimal((1 if unscaled < 0 else 0, digits, -scale))


def decimal_to_bytes(value: Decimal, scale: int) -> bytes:
    """Connect Decimal bytes of ``value`` at ``scale`` (must be exact at that scale)."""
    sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        raise ValueError(f"{value} is not a finite decimal")
    n = int("".join(map(str, digits)) or "0")
    shift = exponent + scale
    if shift >= 0:
        n *= int(10**shift)
    else:
        n, rest = divmod(n, int(10**-shift))
        if rest:
            raise ValueError(f"{value} does not fit scale {scale}")
    n = -n if sign else n
    return n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True)


def convert_row(
    row: Mapping[str, Any], types: Mapping[str, ColumnType] | None, where: str
) -> dict[str, Any]:
    """Convert every column of ``row``; columns without a type pass through
    (strings holding NUL are refused all the same)."""
    if not types:
        return {k: _untyped(v, f"{where} column {k!r}") for k, v in row.items()}
    converted: dict[str, Any] = {}
    try:  # the common cases inline; a message's column is named only on the error path
        for k, v in row.items():
            ctype = types.get(k, RAW)
            if v is None:
                converted[k] = None
            elif type(v) is str and ctype.kind in _TEXTUAL and "\x00" not in v:
                converted[k] = UNAVAILABLE if v in _PLACEHOLDER_TEXTS else v
            else:
                converted[k] = convert(v, ctype, where)
    except Exception:
        # again, one column at a time, so that the error names its column
        return {k: convert(v, types.get(k, RAW), f"{where} column {k!r}") for k, v in row.items()}
    return converted


def convert(value: Any, ctype: ColumnType, where: str) -> Any:
    """Convert one wire value (JSON or Avro) to its Python value, checked
    against the column's declared limits when it has them."""
    if value is None:
        return None
    if is_placeholder(value):
        return UNAVAILABLE
    try:
        result = _CONVERTERS[ctype.kind](value, ctype, where)
    except DecodeError:
        raise
    except (ValueError, TypeError, OverflowError, binascii.Error, InvalidOperation) as exc:
        raise DecodeError(
            "bad_value", f"{where}: cannot read {shown(value)} as {ctype.kind}: {exc}"
        ) from exc
    if ctype.limits is not None and isinstance(result, Decimal | int):
        if ctype.kind == "decimal" and ctype.scale is not None:
            _same_scale(result, ctype.scale, ctype.limits, where)
        check_limits(result, ctype.limits, where)
    return result


def check_limits(value: Decimal | int, limits: Limits, where: str) -> None:
    """Refuse ``value`` unless it is finite and within the declared
    NUMERIC(precision, scale) and bounds. Exact: no arithmetic, no rounding."""
    if isinstance(value, bool):
        raise DecodeError("bad_value", f"{where}: boolean where a number was expected")
    number = value if isinstance(value, Decimal) else Decimal(value)
    if not number.is_finite():
        raise DecodeError("decimal_nan", f"{where}: {_number(value)} is not a finite decimal")
    if limits.scale is not None and decimal_places(number) > limits.scale:
        raise DecodeError(
            "bad_scale",
            f"{where}: {_number(value)} has more than {limits.scale} decimal places "
            f"(declared {limits.describe()}); refused, not rounded",
        )
    if (
        limits.precision is not None
        and number
        and number.adjusted() >= limits.precision - (limits.scale or 0)
    ):
        raise DecodeError(
            "value_out_of_range",
            f"{where}: {_number(value)} is out of range for {limits.describe()} "
            f"(|value| must be below 1E+{limits.precision - (limits.scale or 0)})",
        )
    if (
        (limits.gt is not None and not number > limits.gt)
        or (limits.ge is not None and not number >= limits.ge)
        or (limits.lt is not None and not number < limits.lt)
        or (limits.le is not None and not number <= limits.le)
    ):
        raise DecodeError(
            "value_out_of_range",
            f"{where}: {_number(value)} is out of range for {limits.describe()}",
        )


def decimal_places(value: Decimal) -> int:
    """Decimal places that carry a digit: 8.00 has none, 1.505 three, 0E-10 none."""
    _sign, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int) or exponent >= 0:
        return 0
    kept = len(digits)
    while kept and digits[kept - 1] == 0:
        kept -= 1
    if not kept:
        return 0
    return max(0, -exponent - (len(digits) - kept))


def _same_scale(value: Decimal | int, scale: int, limits: Limits, where: str) -> None:
    """The wire scale (from the event's schema) must be the declared one."""
    if limits.scale is not None and scale != limits.scale:
        raise DecodeError(
            "bad_scale",
            f"{where}: the change event's schema gives decimal scale {scale} (value read as "
            f"{_number(value)}) but the column is declared {limits.describe()}; "
            "refused, not rescaled",
        )


def _number(value: Decimal | int, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else f"{text[:20]}...({len(text)} characters)"


def shown(value: Any, limit: int = 80) -> str:
    """``repr`` of a value for a message, cut short: NUL and other control
    characters come out escaped, so the message itself is storable text."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def refuse_nul(value: Any, where: str) -> None:
    """Refuse a string holding NUL, at any depth of a list or struct value
    (decoded JSON and Avro: dicts and lists)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise DecodeError(
                "nul_byte",
                f"{where}: {shown(value)} contains a NUL byte (\\x00), which text cannot store",
            )
    elif isinstance(value, dict):
        for item in value.values():
            refuse_nul(item, where)
    elif isinstance(value, list | tuple):
        for item in value:
            refuse_nul(item, where)


def _untyped(value: Any, where: str) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            refuse_nul(value, where)
        return UNAVAILABLE if value == PLACEHOLDER else value
    if is_placeholder(value):
        return UNAVAILABLE
    refuse_nul(value, where)
    return value


def _decimal(value: Any, ctype: ColumnType, where: str) -> Decimal:
    if isinstance(value, Mapping):  # io.debezium.data.VariableScaleDecimal
        if "scale" not in value or "value" not in value:
            raise DecodeError("missing_field", f"{where}: variable scale decimal lacks scale/value")
        inner = ColumnType("decimal", scale=int(value["scale"]), encoding="bytes")
        return _decimal(value["value"], inner, where)
    if isinstance(value, Decimal):
        return _finite(value, where)
    if isinstance(value, bytes | bytearray):
        return decimal_from_bytes(bytes(value), _scale(ctype, where))
    if isinstance(value, bool):
        raise DecodeError("bad_value", f"{where}: boolean where a decimal was expected")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):  # decimal.handling.mode=double
        return _finite(Decimal(repr(value)), where)
    if isinstance(value, str):
        auto = ctype.encoding == "auto"
        if ctype.encoding == "string" or (auto and _looks_numeric(value, ctype)):
            return _finite(Decimal(value), where)
        if value in ("NaN", "Infinity", "-Infinity"):
            raise DecodeError("decimal_nan", f"{where}: {value} is not a finite decimal")
        return decimal_from_bytes(base64.b64decode(value, validate=True), _scale(ctype, where))
    raise TypeError(f"unexpected {type(value).__name__}")


def _looks_numeric(value: str, ctype: ColumnType) -> bool:
    if not _NUMERIC.fullmatch(value):
        return False
    # Pure digits may also be base64; with a known scale, prefer bytes.
    return not (ctype.scale is not None and value.isdigit() and len(value) % 4 == 0)


def _scale(ctype: ColumnType, where: str) -> int:
    if ctype.scale is None:
        raise DecodeError("missing_scale", f"{where}: decimal bytes without a known scale")
    return ctype.scale


def _finite(value: Decimal, where: str) -> Decimal:
    if not value.is_finite():
        raise DecodeError("decimal_nan", f"{where}: {value} is not a finite decimal")
    return value


def _date(value: Any, ctype: ColumnType, where: str) -> date:
    if isinstance(value, date):
        return value.date() if isinstance(value, datetime) else value
    if isinstance(value, str):
        return date.fromisoformat(value)
    return _EPOCH_DAY + timedelta(days=_int(value))


def _timestamp(value: Any, ctype: ColumnType, where: str) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):  # ZonedTimestamp, or an ISO string from a bare feed
        parsed = datetime.fromisoformat(value)
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return _EPOCH + _delta(_int(value), ctype.unit or "ms")


def _time(value: Any, ctype: ColumnType, where: str) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str):  # ZonedTime
        return time.fromisoformat(value)
    return (_EPOCH + _delta(_int(value), ctype.unit or "ms")).time().replace(tzinfo=None)


def _delta(n: int, unit: Unit) -> timedelta:
    if unit == "us":
        return timedelta(microseconds=n)
    if unit == "ns":
        return timedelta(microseconds=n // 1000)
    return timedelta(milliseconds=n)


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return int(value)


def _bool(value: Any, ctype: ColumnType, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "t", 1, "1"):
        return True
    if value in ("false", "f", 0, "0"):
        return False
    raise TypeError(f"expected a boolean, got {value!r}")


def _text(value: Any, ctype: ColumnType, where: str) -> Any:
    if isinstance(value, str):  # the common case, checked inline
        if "\x00" in value:
            refuse_nul(value, where)
    else:
        refuse_nul(value, where)
    return value


def _integer(value: Any, ctype: ColumnType, where: str) -> int:
    return _int(value)


_CONVERTERS = {
    "decimal": _decimal,
    "date": _date,
    "timestamp": _timestamp,
    "time": _time,
    "text": _text,
    "int": _integer,
    "bool": _bool,
    "raw": _text,
}
_TEXTUAL = frozenset(kind for kind, read in _CONVERTERS.items() if read is _text)
