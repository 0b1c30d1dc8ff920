"""The declarative source mapping's file format, validated at start-up.

See psa_mapping.toml beside this module (the default, for the reference PSA
schema) for the format an operator copies and edits for another PSA.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from cdc.values import ColumnType
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


class MappingError(InputError):
    """A change event the mapping cannot turn into a command."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message, reason=reason)


class TableMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    entity: Entity
    fields: dict[str, str]
    types: dict[str, str] = {}
    status: dict[str, str] = {}

    @field_validator("types")
    @classmethod
    def _known_types(cls, types: dict[str, str]) -> dict[str, str]:
        for column, name in types.items():
            base, _, scale = name.partition(":")
            if base == "decimal" and scale.isdigit():
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
        return self


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


def column_type(name: str) -> ColumnType:
    base, _, scale = name.partition(":")
    if base == "decimal":
        return ColumnType("decimal", scale=int(scale), encoding="auto")
    if base == "timestamp":
        return ColumnType("timestamp", unit="us")
    return ColumnType(base)  # type: ignore[arg-type]
