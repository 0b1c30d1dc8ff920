"""Debezium change events for the reference PSA schema, written as `kcat -C -J` lines.

Self-contained on purpose (it imports nothing from the ledger): the scenario
must stay a black-box check while the write path is refactored. The shape is
what Debezium's PostgreSQL connector writes with the JSON converter
(schemas.enable=true) and transaction metadata on, see
shared/reference/CDC_FILES.md and tests/fixtures/debezium/psa_sample.jsonl:
keys and values are JSON text with a {"schema", "payload"} wrapper; numeric
columns are Connect Decimals (base64 big-endian two's complement of the
unscaled value), dates are days since the epoch, timestamptz columns are
ZonedTimestamp strings; each PSA transaction is BEGIN, its changes and END on
`psa.transaction`.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

Row = dict[str, Any]
Change = tuple[str, str, Row | None, Row | None]  # table, op (c/u/d), before, after

PREFIX = "psa"
EPOCH = date(1970, 1, 1)

# Columns of shared/reference/psa_schema.sql: name, type, optional.
# Types: text, numeric:PRECISION:SCALE, date, timestamptz, bool.
TABLES: dict[str, list[tuple[str, str, bool]]] = {
    "rate_cards": [
        ("id", "text", False),
        ("name", "text", False),
        ("currency", "text", False),
        ("updated_at", "timestamptz", False),
    ],
    "rate_card_lines": [
        ("id", "text", False),
        ("rate_card_id", "text", False),
        ("role", "text", False),
        ("hourly_rate", "numeric:12:2", False),
        ("effective_from", "date", False),
        ("effective_to", "date", True),
        ("updated_at", "timestamptz", False),
    ],
    "projects": [
        ("id", "text", False),
        ("contract_id", "text", False),
        ("name", "text", False),
        ("legal_entity", "text", False),
        ("project_manager", "text", False),
        ("status", "text", False),
        ("updated_at", "timestamptz", False),
    ],
    "assignments": [
        ("id", "text", False),
        ("project_id", "text", False),
        ("worker_id", "text", False),
        ("role", "text", False),
        ("start_date", "date", False),
        ("end_date", "date", False),
        ("planned_hours", "numeric:8:2", False),
        ("status", "text", False),
        ("updated_at", "timestamptz", False),
    ],
    "time_entries": [
        ("id", "text", False),
        ("project_id", "text", False),
        ("worker_id", "text", False),
        ("role", "text", False),
        ("work_date", "date", False),
        ("hours", "numeric:6:2", False),
        ("billable", "bool", False),
        ("notes", "text", True),
        ("status", "text", False),
        ("approved_by", "text", True),
        ("approved_at", "timestamptz", True),
        ("updated_at", "timestamptz", False),
    ],
    "expense_items": [
        ("id", "text", False),
        ("project_id", "text", False),
        ("worker_id", "text", False),
        ("incurred_on", "date", False),
        ("category", "text", False),
        ("amount", "numeric:12:2", False),
        ("currency", "text", False),
        ("billable", "bool", False),
        ("receipt_ref", "text", True),
        ("status", "text", False),
        ("approved_by", "text", True),
        ("approved_at", "timestamptz", True),
        ("updated_at", "timestamptz", False),
    ],
    "milestones": [
        ("id", "text", False),
        ("project_id", "text", False),
        ("name", "text", False),
        ("amount", "numeric:14:2", False),
        ("currency", "text", False),
        ("due_date", "date", False),
        ("status", "text", False),
        ("accepted_by", "text", True),
        ("accepted_at", "timestamptz", True),
        ("updated_at", "timestamptz", False),
    ],
}


def connect_decimal(value: Decimal, scale: int) -> str:
    unscaled = int(value.scaleb(scale).to_integral_exact())
    size = max(1, (unscaled.bit_length() + 8) // 8)
    return base64.b64encode(unscaled.to_bytes(size, "big", signed=True)).decode()


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind.startswith("numeric"):
        return connect_decimal(Decimal(value), int(kind.split(":")[2]))
    if kind == "date":
        return (value - EPOCH).days
    if kind == "timestamptz":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def _field(name: str, kind: str, optional: bool) -> dict[str, Any]:
    if kind.startswith("numeric"):
        _, precision, scale = kind.split(":")
        return {
            "type": "bytes",
            "optional": optional,
            "name": "org.apache.kafka.connect.data.Decimal",
            "version": 1,
            "parameters": {"scale": scale, "connect.decimal.precision": precision},
            "field": name,
        }
    if kind == "date":
        logical = {"type": "int32", "name": "io.debezium.time.Date", "version": 1}
        return {**logical, "optional": optional, "field": name}
    if kind == "timestamptz":
        logical = {"type": "string", "name": "io.debezium.time.ZonedTimestamp", "version": 1}
        return {**logical, "optional": optional, "field": name}
    return {"type": "boolean" if kind == "bool" else "string", "optional": optional, "field": name}


def _source_schema() -> dict[str, Any]:
    fields = [
        ("version", "string", False),
        ("connector", "string", False),
        ("name", "string", False),
        ("ts_ms", "int64", False),
        ("snapshot", "string", True),
        ("db", "string", False),
        ("sequence", "string", True),
        ("schema", "string", False),
        ("table", "string", False),
        ("txId", "int64", True),
        ("lsn", "int64", True),
        ("xmin", "int64", True),
    ]
    return {
        "type": "struct",
        "optional": False,
        "name": "io.debezium.connector.postgresql.Source",
        "field": "source",
        "fields": [{"type": t, "optional": o, "field": n} for n, t, o in fields],
    }


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


class PsaTopics:
    """The PSA's Debezium topics; each month is dumped to its own file, and
    offsets, LSNs and transaction ids keep counting across months, as they
    would on a real topic."""

    def __init__(self) -> None:
        self.offsets: Counter[str] = Counter()
        self.lsn = 31_000_000
        self.tx = 5_000
        self.lines: list[bytes] = []

    # -- files --------------------------------------------------------------

    def dump(self, path: Path) -> Path:
        """Write what was captured since the last dump (kcat -C -J -e ... > path)."""
        path.write_bytes(b"".join(self.lines))
        self.lines = []
        return path

    # -- capture ------------------------------------------------------------

    def snapshot(self, table: str, rows: list[Row], at: datetime) -> None:
        """The connector's initial snapshot: reads (op r), no transaction block."""
        self.tx += 1
        for n, row in enumerate(rows):
            marker = "first" if n == 0 else ("last" if n == len(rows) - 1 else "true")
            source = self._source(table, at, marker)
            value = self._value(table, "r", None, row, source, None, at)
            self._emit(table, str(row["id"]), value, at)

    def commit(self, at: datetime, *changes: Change) -> None:
        """One committed PSA transaction: BEGIN, its row changes, END."""
        self.tx += 1
        self.lsn += 1_000
        self._marker("BEGIN", at, None)
        counts: Counter[str] = Counter()
        for order, (table, op, before, after) in enumerate(changes, start=1):
            self.lsn += 56
            counts[f"public.{table}"] += 1
            block = {
                "id": f"{self.tx}:{self.lsn}",
                "total_order": order,
                "data_collection_order": counts[f"public.{table}"],
            }
            row_id = str((after or before or {})["id"])
            source = self._source(table, at, "false")
            value = self._value(table, op, before, after, source, block, at)
            self._emit(table, row_id, value, at)
            if op == "d":
                self._emit(table, row_id, None, at)  # the tombstone
        self.lsn += 56
        self._marker("END", at, counts)

    # -- records ------------------------------------------------------------

    def _line(self, topic: str, key: Any, value: Any, at: datetime) -> None:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        doc = {
            "topic": topic,
            "partition": 0,
            "offset": offset,
            "tstype": "create",
            "ts": _ms(at),
            "broker": 0,
            "key": json.dumps(key, separators=(",", ":")),
            "payload": None if value is None else json.dumps(value, separators=(",", ":")),
        }
        self.lines.append(json.dumps(doc, separators=(",", ":")).encode() + b"\n")

    def _emit(self, table: str, row_id: str, value: dict[str, Any] | None, at: datetime) -> None:
        key = {
            "schema": {
                "type": "struct",
                "optional": False,
                "name": f"{PREFIX}.public.{table}.Key",
                "fields": [{"type": "string", "optional": False, "field": "id"}],
            },
            "payload": {"id": row_id},
        }
        self._line(f"{PREFIX}.public.{table}", key, value, at)

    def _source(self, table: str, at: datetime, snapshot: str) -> dict[str, Any]:
        return {
            "version": "3.6.3.Final",
            "connector": "postgresql",
            "name": PREFIX,
            "ts_ms": _ms(at),
            "snapshot": snapshot,
            "db": "psa",
            "sequence": f'[null,"{self.lsn}"]',
            "schema": "public",
            "table": table,
            "txId": self.tx,
            "lsn": self.lsn,
            "xmin": None,
        }

    def _value(
        self,
        table: str,
        op: str,
        before: Row | None,
        after: Row | None,
        source: dict[str, Any],
        block: dict[str, Any] | None,
        at: datetime,
    ) -> dict[str, Any]:
        columns = TABLES[table]
        row_schema = {
            "type": "struct",
            "optional": True,
            "name": f"{PREFIX}.public.{table}.Value",
            "fields": [_field(*column) for column in columns],
        }
        schema = {
            "type": "struct",
            "optional": False,
            "version": 2,
            "name": f"{PREFIX}.public.{table}.Envelope",
            "fields": [
                {**row_schema, "field": "before"},
                {**row_schema, "field": "after"},
                _source_schema(),
                {
                    "type": "struct",
                    "optional": True,
                    "name": "event.block",
                    "version": 1,
                    "field": "transaction",
                    "fields": [
                        {"type": "string", "optional": False, "field": "id"},
                        {"type": "int64", "optional": False, "field": "total_order"},
                        {"type": "int64", "optional": False, "field": "data_collection_order"},
                    ],
                },
                {"type": "string", "optional": False, "field": "op"},
                {"type": "int64", "optional": True, "field": "ts_ms"},
            ],
        }

        def image(row: Row | None) -> dict[str, Any] | None:
            if row is None:
                return None
            return {name: _encode(kind, row.get(name)) for name, kind, _ in columns}

        payload = {
            "before": image(before),
            "after": image(after),
            "source": source,
            "transaction": block,
            "op": op,
            "ts_ms": _ms(at) + 150,
        }
        return {"schema": schema, "payload": payload}

    def _marker(self, status: str, at: datetime, counts: Counter[str] | None) -> None:
        value = {
            "status": status,
            "id": f"{self.tx}:{self.lsn}",
            "event_count": None if counts is None else sum(counts.values()),
            "data_collections": None
            if counts is None
            else [{"data_collection": name, "event_count": n} for name, n in counts.items()],
            "ts_ms": _ms(at),
        }
        self._line(f"{PREFIX}.transaction", {"id": f"{self.tx}:{self.lsn}"}, value, at)
