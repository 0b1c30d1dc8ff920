"""Source mapping: decoded PSA change events -> domain commands.

The mapping is declarative (see psa_mapping.toml beside this module, the
default for the reference PSA schema); `SourceMapping.load` validates a
mapping file at start-up and names every problem it finds.

The declared column types decide what a value may be: the decoders check
every value against them, and the ledger's money and hours fields are
checked once more here, so a command never carries a value outside its
column's NUMERIC(p,s) and CHECK bounds.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
from pydantic import ValidationError

from cdc.errors import DecodeError
from cdc.mapping_config import (
    DECIMAL_FIELDS,
    DEFAULT_MAPPING,
    LEDGER_STATES,
    REQUIRED,
    WORK_ITEMS,
    MappingError,
    MappingFile,
    TableMapping,
)
from cdc.records import UNAVAILABLE, ChangeEvent
from cdc.values import ColumnType, convert
from domain import commands as c
from domain.errors import InputError, OwnershipViolation
from domain.provenance import Provenance
from domain.rate_card import RateLine


class SourceMapping:
    """A validated mapping: column types for decoding, commands for events."""

    def __init__(self, config: MappingFile, origin: str) -> None:
        self.config = config
        self.origin = origin
        self._types = {table: spec.column_types() for table, spec in config.tables.items()}

    @classmethod
    def load(cls, path: Path | None = None) -> SourceMapping:
        path = path or DEFAULT_MAPPING
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"cannot read mapping {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"mapping {path} is not valid TOML: {exc}") from exc
        try:
            return cls(MappingFile.model_validate(data), str(path))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in exc.errors(include_url=False, include_input=False)
            )
            raise InputError(f"mapping {path} is invalid: {problems}") from None

    def column_types(self) -> dict[str, dict[str, ColumnType]]:
        """``{table: {column: ColumnType}}`` with the declared limits, for the decoders."""
        return {table: dict(types) for table, types in self._types.items()}

    def commands(self, event: ChangeEvent) -> list[c.Command]:
        """The commands for one change event (none for a logical message)."""
        where = f"{event.topic}[{event.raw.partition}@{event.raw.offset}]"
        if event.op == "m":
            return []
        spec = self.config.tables.get(event.table or "")
        if spec is None or (event.schema not in (None, self.config.schema_)):
            raise MappingError(
                f"{where}: no mapping for table {event.schema}.{event.table}",
                reason="unknown_table",
            )
        if event.op == "t":
            raise MappingError(
                f"{where}: truncate of {event.table} cannot be applied to the ledger",
                reason="truncate",
            )
        provenance = self._provenance(event, spec)
        if event.op == "d":
            return self._deleted(event, spec, provenance, where)
        row = self._row(event, spec, where)
        command = self._command(spec, row, provenance, where, self._types[event.table or ""])
        return [command]

    # -- helpers ---------------------------------------------------------------

    def _provenance(self, event: ChangeEvent, spec: TableMapping) -> Provenance:
        key = orjson.dumps(event.key, default=str, option=orjson.OPT_SORT_KEYS).decode()
        row = event.after or event.before or {}
        approver = spec.fields.get("approved_by")
        actor = row.get(approver) if approver else None
        return Provenance(
            source_system="psa",
            record_id=f"{event.schema}.{event.table}:{key}:{event.op}:{event.lsn}",
            actor=actor if isinstance(actor, str) else None,
            correlation_id=event.tx_id,
            connector=event.connector,
            table=f"{event.schema}.{event.table}",
            key=key,
            lsn=event.lsn,
            tx_id=event.tx_id,
            commit_time=event.commit_time,
            topic=event.raw.topic,
            partition=event.raw.partition,
            offset=event.raw.offset,
        )

    def _row(self, event: ChangeEvent, spec: TableMapping, where: str) -> dict[str, Any]:
        after = event.after
        if after is None:
            raise MappingError(
                f"{where}: op {event.op} without an after image", reason="missing_field"
            )
        before = event.before or {}
        row: dict[str, Any] = {}
        for name, column in spec.fields.items():
            if column not in after:
                if name in REQUIRED[spec.entity]:
                    raise MappingError(
                        f"{where}: column {column} is missing", reason="missing_field"
                    )
                row[name] = None
                continue
            value = after[column]
            if value is UNAVAILABLE:
                value = before.get(column, UNAVAILABLE)
                if value is UNAVAILABLE:
                    raise MappingError(
                        f"{where}: column {column} holds Debezium's TOAST placeholder and "
                        "the before image has no value for it",
                        reason="toast_placeholder",
                    )
            row[name] = value
        return row

    def _status(self, spec: TableMapping, row: dict[str, Any], where: str) -> str:
        value = row["status"]
        if not spec.status:
            return str(value)
        if value in spec.status:
            return spec.status[value]
        if value in LEDGER_STATES:
            raise OwnershipViolation(
                f"{where}: the PSA cannot mark a {spec.entity.replace('_', ' ')} {value}; "
                "pricing and invoicing belong to the ledger"
            )
        raise MappingError(f"{where}: status {value!r} is not mapped", reason="unmapped_status")

    def _command(
        self,
        spec: TableMapping,
        row: dict[str, Any],
        provenance: Provenance,
        where: str,
        types: Mapping[str, ColumnType],
    ) -> c.Command:
        entity, item_id = spec.entity, _text(row["id"], "id", where)
        if entity == "rate_card":
            return c.SyncRateCard(item_id, str(row["name"]), str(row["currency"]), provenance)
        if entity == "rate_line":
            rate = _decimal(row["hourly_rate"], "hourly_rate", where)
            line = RateLine(
                item_id,
                str(row["role"]),
                _declared(rate, spec.fields["hourly_rate"], types, where),
                _date(row["effective_from"], "effective_from", where),
                None
                if row.get("effective_to") is None
                else _date(row["effective_to"], "effective_to", where),
            )
            return c.SyncRateLine(str(row["rate_card_id"]), line, provenance)
        details = {k: v for k, v in row.items() if k != "id"}
        if entity == "project":
            details["status"] = self._status(spec, row, where)
            return c.SyncProject(item_id, details, provenance)
        if entity == "assignment":
            details["status"] = self._status(spec, row, where)
            details["planned_hours"] = _declared(
                details["planned_hours"], spec.fields["planned_hours"], types, where
            )
            return c.SyncAssignment(item_id, details, provenance)
        intent = self._status(spec, row, where)
        fields = {
            k: v for k, v in details.items() if k not in ("status", "approved_by", "approved_at")
        }
        _check_item_fields(entity, fields, where)
        for name in DECIMAL_FIELDS[entity]:
            fields[name] = _declared(fields[name], spec.fields[name], types, where)
        approved_at = row.get("approved_at")
        if approved_at is not None and not isinstance(approved_at, datetime):
            raise MappingError(f"{where}: approved_at is not a timestamp", reason="bad_value")
        return c.SyncWorkItem(
            entity,
            item_id,
            fields,
            intent,
            row.get("approved_by") if intent == "approved" else None,
            approved_at if intent == "approved" else None,
            provenance,
        )

    def _deleted(
        self, event: ChangeEvent, spec: TableMapping, provenance: Provenance, where: str
    ) -> list[c.Command]:
        image = event.before or event.key or {}
        column = spec.fields["id"]
        if column not in image:
            raise MappingError(
                f"{where}: delete without the key column {column}", reason="missing_field"
            )
        item_id = _text(image[column], "id", where)
        if spec.entity in WORK_ITEMS:
            return [c.WithdrawWorkItem(spec.entity, item_id, provenance)]
        if spec.entity == "rate_line":
            card = image.get(spec.fields["rate_card_id"])
            if card is None:
                raise MappingError(
                    f"{where}: delete of rate line {item_id} without its card",
                    reason="missing_field",
                )
            return [c.RemoveRateLine(str(card), item_id, provenance)]
        return []  # rate cards, projects and assignments are closed in the PSA, not deleted


def _text(value: Any, name: str, where: str) -> str:
    if value is None or value == "":
        raise MappingError(f"{where}: {name} is empty", reason="missing_field")
    return str(value)


def _declared(value: Any, column: str, types: Mapping[str, ColumnType], where: str) -> Any:
    """``value`` read under its column's declared type and limits."""
    ctype = types.get(column)
    if ctype is None:
        return value
    try:
        return convert(value, ctype, f"{where} column {column!r}")
    except DecodeError as exc:
        raise MappingError(exc.detail, reason=exc.reason) from None


def _decimal(value: Any, name: str, where: str) -> Decimal:
    if isinstance(value, Decimal) and value.is_finite():
        return value
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            result = Decimal(str(value))
        except ArithmeticError:
            result = Decimal("NaN")
        if result.is_finite():
            return result
    raise MappingError(f"{where}: {name}={value!r} is not a finite decimal", reason="bad_value")


def _date(value: Any, name: str, where: str) -> date:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise MappingError(f"{where}: {name}={value!r} is not a date", reason="bad_value")


_ITEM_TYPES: Mapping[str, Mapping[str, str]] = {
    "time_entry": {"hours": "decimal", "work_date": "date"},
    "expense_item": {"amount": "decimal", "incurred_on": "date"},
    "milestone": {"amount": "decimal", "due_date": "date"},
}


def _check_item_fields(entity: str, fields: dict[str, Any], where: str) -> None:
    """Money and dates must be typed values before they reach the domain."""
    for name, kind in _ITEM_TYPES[entity].items():
        if kind == "decimal":
            fields[name] = _decimal(fields[name], name, where)
            if fields[name] <= 0:
                raise MappingError(f"{where}: {name} must be positive", reason="bad_value")
        else:
            fields[name] = _date(fields[name], name, where)
    if "billable" in fields and not isinstance(fields["billable"], bool):
        raise MappingError(
            f"{where}: billable={fields['billable']!r} is not a boolean", reason="bad_value"
        )
