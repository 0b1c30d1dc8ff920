"""The declarative source mapping's file format, validated at start-up.

See psa_mapping.toml beside this module (the default, for the reference PSA
schema) for the format an operator copies and edits for another PSA.

Column types are ``text``, ``int``, ``bool``, ``date``, ``timestamp``,
``time``, and ``decimal(p,s)``: the column's NUMERIC(p,s), so a value must
have at most ``s`` decimal places and |value| < 10^(p-s). The older
``decimal:s`` means ``decimal(12+s,s)`` (twelve integer digits). ``bounds``
carry a column's CHECK constraint (``gt``, ``ge``, ``lt``, ``le``). The ledger's
money and hours fields must have a declared decimal type.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from cdc.values import ColumnType, Limits
from domain.errors import InputError

DEFAULT_MAPPING = Path(__file__).with_name("psa_mapping.toml")

Entity = Literal[
    "rate_card", "rate_line", "project", "assignment", "time_entry", "expense_item", "milestone"
]
WORK_ITEMS = ("time_entry", "expense_item", "milestone")
REQUIRED: dict[str, tuple[str, ...]] = {
    "rate_card": ("id", "name", "currency"),
    "rate_line": ("id", "rate_card_id", "role", "hourly_rate", "effective_from"),
    "project": ("id", "contract_id", "name", "legal_entity", "project_manager", "status"),
    "assignment": (
        "id",
        "project_id",
        "worker_id",
        "role",
        "start_date",
        "end_date",
        "planned_hours",
        "status",
    ),
    "time_entry": (
        "id",
        "project_id",
        "worker_id",
        "role",
        "work_date",
        "hours",
        "billable",
        "status",
    ),
    "expense_item": (
        "id",
        "project_id",
        "worker_id",
        "incurred_on",
        "category",
        "amount",
        "currency",
        "billable",
        "status",
    ),
    "milestone": ("id", "project_id", "name", "amount", "currency", "due_date", "status"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {
    "rate_line": ("effective_to",),
    "time_entry": ("notes", "approved_by", "approved_at"),
    "expense_item": ("receipt_ref", "approved_by", "approved_at"),
    "milestone": ("approved_by", "approved_at"),
}
ITEM_INTENTS = {"planned", "approved", "cancelled"}
LEDGER_STATES = {"billable", "invoiced", "posted"}
TYPE_NAMES = {"text", "int", "bool", "date", "timestamp", "time"}
DECIMAL_FIELDS: dict[str, tuple[str, ...]] = {
    "rate_line": ("hourly_rate",),
    "assignment": ("planned_hours",),
    "time_entry": ("hours",),
    "expense_item": ("amount",),
    "milestone": ("amount",),
}
"""Ledger fields read as decimals: their columns need a declared decimal type."""
LEGACY_INTEGER_DIGITS = 12
"""``decimal:s`` (no precision) means ``decimal(12+s,s)``: below 10^12."""
MAX_PRECISION = 1000  # PostgreSQL's NUMERIC limit
_DECIMAL = re.compile(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)")
_LEGACY_DECIMAL = re.compile(r"decimal:(\d+)")


class MappingError(InputError):
    """A change event the mapping cannot turn into a command."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason)


class Bounds(BaseModel):
    """A column's CHECK constraint: ``{ gt = "0", le = "24" }``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    gt: Decimal | None = None
    ge: Decimal | None = None
    lt: Decimal | None = None
    le: Decimal | None = None

    @model_validator(mode="after")
    def _sound(self) -> Bounds:
        values = [v for v in (self.gt, self.ge, self.lt, self.le) if v is not None]
        if not values:
            raise ValueError("bounds need at least one of gt, ge, lt, le")
        if not all(v.is_finite() for v in values):
            raise ValueError("bounds must be finite numbers")
        if (self.gt is not None and self.ge is not None) or (
            self.lt is not None and self.le is not None
        ):
            raise ValueError("give one lower bound (gt or ge) and one upper bound (lt or le)")
        low = self.gt if self.gt is not None else self.ge
        high = self.lt if self.lt is not None else self.le
        if low is not None and high is not None and low > high:
            raise ValueError(f"lower bound {low} is above upper bound {high}")
        return self


class TableMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: Entity
    fields: dict[str, str]
    types: dict[str, str] = {}
    bounds: dict[str, Bounds] = {}
    status: dict[str, str] = {}

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: dict[str, str]) -> dict[str, str]:
        for column, name in types.items():
            declared = decimal_type(name)
            if declared is not None:
                precision, scale = declared
                if not 0 < precision <= MAX_PRECISION or scale > precision:
                    raise ValueError(
                        f"column {column}: {name!r} needs 0 < precision <= {MAX_PRECISION} "
                        "and scale <= precision"
                    )
                continue
            if name not in TYPE_NAMES:
                raise ValueError(f"column {column}: unknown type {name!r}")
        return types

    @model_validator(mode="after")
    def _complete(self) -> TableMapping:
        missing = [f for f in REQUIRED[self.entity] if f not in self.fields]
        if missing:
            raise ValueError(f"entity {self.entity} needs fields {', '.join(missing)}")
        known = set(REQUIRED[self.entity]) | set(OPTIONAL.get(self.entity, ()))
        extra = sorted(set(self.fields) - known)
        if extra:
            raise ValueError(f"entity {self.entity} has no fields {', '.join(extra)}")
        if self.entity in WORK_ITEMS:
            bad = sorted(set(self.status.values()) - ITEM_INTENTS)
            if bad:
                raise ValueError(f"status intents must be {sorted(ITEM_INTENTS)}, not {bad}")
        for column in self.bounds:
            name = self.types.get(column)
            if name is None or (name != "int" and decimal_type(name) is None):
                raise ValueError(f"bounds for column {column} need a declared decimal or int type")
        for name in DECIMAL_FIELDS.get(self.entity, ()):
            column = self.fields[name]
            if decimal_type(self.types.get(column, "")) is None:
                raise ValueError(
                    f"entity {self.entity}: field {name} (column {column}) needs a declared "
                    "type decimal(p,s), the column's NUMERIC(p,s)"
                )
        return self

    def column_types(self) -> dict[str, ColumnType]:
        """How to read each typed column, with its declared limits."""
        return {
            column: column_type(name, self.bounds.get(column))
            for column, name in self.types.items()
        }


class MappingFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source_system: Literal["psa"] = "psa"
    schema_: str = "public"
    tables: dict[str, TableMapping]

    @model_validator(mode="before")
    @classmethod
    def _rename_schema(cls, data: Any) -> Any:
        if isinstance(data, dict) and "schema" in data:
            data = {**data, "schema_": data["schema"]}
            del data["schema"]
        return data


def decimal_type(name: str) -> tuple[int, int] | None:
    """(precision, scale) of ``decimal(p,s)`` or of the older ``decimal:s``; None otherwise."""
    match = _DECIMAL.fullmatch(name)
    if match:
        return int(match[1]), int(match[2])
    match = _LEGACY_DECIMAL.fullmatch(name)
    if match:
        return LEGACY_INTEGER_DIGITS + int(match[1]), int(match[1])
    return None


def column_type(name: str, bounds: Bounds | None = None) -> ColumnType:
    """The ColumnType of a declared type name (already validated), with its limits."""
    checks = {} if bounds is None else bounds.model_dump(exclude_none=True)
    declared = decimal_type(name)
    if declared is not None:
        precision, scale = declared
        return ColumnType(
            "decimal", scale=scale, encoding="auto", limits=Limits(precision, scale, **checks)
        )
    limits = Limits(None, 0, **checks) if checks else None
    if name == "timestamp":
        return ColumnType("timestamp", unit="us")
    return ColumnType(name, limits=limits)  # type: ignore[arg-type]
