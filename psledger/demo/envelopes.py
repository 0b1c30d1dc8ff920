"""Debezium change events for the reference PSA schema, as kcat JSONL files.

Writes what Debezium's PostgreSQL connector (pgoutput, JSON converter with
schemas enabled, transaction metadata on) writes for a row change: keys,
envelopes with before/after/source/transaction, and BEGIN/END records on
`<prefix>.transaction`. Used by the demo and by tests that need bulk CDC
input; real Debezium output is in tests/fixtures/debezium/.
"""

from __future__ import annotations

import base64
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from cdc.kcat import to_kcat_line
from cdc.records import RawRecord
from cdc.values import decimal_to_bytes

# column name, type, optional; types: text, numeric:P:S, date, timestamptz, bool
Column = tuple[str, str, bool]
TABLES: dict[str, list[Column]] = {
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
EPOCH_DAY = date(1970, 1, 1)


def _field_schema(name: str, kind: str, optional: bool) -> dict[str, Any]:
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
        return {
            "type": "int32",
            "optional": optional,
            "name": "io.debezium.time.Date",
            "version": 1,
            "field": name,
        }
    if kind == "timestamptz":
        return {
            "type": "string",
            "optional": optional,
            "name": "io.debezium.time.ZonedTimestamp",
            "version": 1,
            "field": name,
        }
    return {"type": "boolean" if kind == "bool" else "string", "optional": optional, "field": name}


def _encode(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind.startswith("numeric"):
        scale = int(kind.split(":")[2])
        return base64.b64encode(decimal_to_bytes(Decimal(value), scale)).decode()
    if kind == "date":
        return (value - EPOCH_DAY).days
    if kind == "timestamptz":
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


class DebeziumWriter:
    """Appends Debezium records to one kcat JSONL file."""

    def __init__(self, out: BinaryIO, *, prefix: str = "psa", database: str = "psa") -> None:
        self.out = out
        self.prefix = prefix
        self.database = database
        self.offsets: Counter[str] = Counter()
        self.lsn = 26_000_000
        self.tx = 700

    def _row_schema(self, table: str) -> dict[str, Any]:
        return {
            "type": "struct",
            "optional": True,
            "name": f"{self.prefix}.public.{table}.Value",
            "fields": [_field_schema(*col) for col in TABLES[table]],
        }

    def _emit(
        self, topic: str, key: dict[str, Any], value: dict[str, Any] | None, at: datetime
    ) -> None:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        raw = RawRecord(
            topic,
            0,
            offset,
            orjson.dumps(key),
            None if value is None else orjson.dumps(value),
            (),
            int(at.timestamp() * 1000),
        )
        self.out.write(to_kcat_line(raw))

    def _key(self, table: str, row_id: str) -> dict[str, Any]:
        return {
            "schema": {
                "type": "struct",
                "optional": False,
                "name": f"{self.prefix}.public.{table}.Key",
                "fields": [{"type": "string", "optional": False, "field": "id"}],
            },
            "payload": {"id": row_id},
        }

    def _row(self, table: str, row: dict[str, Any] | None) -> dict[str, Any] | None:
        if row is None:
            return None
        return {name: _encode(kind, row.get(name)) for name, kind, _ in TABLES[table]}

    def _source(self, table: str, at: datetime, snapshot: str, tx: int | None) -> dict[str, Any]:
        ms = int(at.timestamp() * 1000)
        return {
            "version": "3.6.3.Final",
            "connector": "postgresql",
            "name": self.prefix,
            "ts_ms": ms,
            "snapshot": snapshot,
            "db": self.database,
            "sequence": f'[null,"{self.lsn}"]',
            "schema": "public",
            "table": table,
            "txId": tx,
            "lsn": self.lsn,
            "xmin": None,
        }

    def _envelope(
        self,
        table: str,
        op: str,
        before: dict[str, Any] | None,
        after: dict[str, Any] | None,
        source: dict[str, Any],
        transaction: dict[str, Any] | None,
        at: datetime,
    ) -> dict[str, Any]:
        row_schema = self._row_schema(table)
        schema = {
            "type": "struct",
            "optional": False,
            "version": 2,
            "name": f"{self.prefix}.public.{table}.Envelope",
            "fields": [
                {**row_schema, "field": "before"},
                {**row_schema, "field": "after"},
                {
                    "type": "struct",
                    "optional": False,
                    "field": "source",
                    "name": "io.debezium.connector.postgresql.Source",
                    "fields": [
                        {"type": "string", "optional": False, "field": "version"},
                        {"type": "string", "optional": False, "field": "connector"},
                        {"type": "string", "optional": False, "field": "name"},
                        {"type": "int64", "optional": False, "field": "ts_ms"},
                        {"type": "string", "optional": True, "field": "snapshot"},
                        {"type": "string", "optional": False, "field": "db"},
                        {"type": "string", "optional": True, "field": "sequence"},
                        {"type": "string", "optional": False, "field": "schema"},
                        {"type": "string", "optional": False, "field": "table"},
                        {"type": "int64", "optional": True, "field": "txId"},
                        {"type": "int64", "optional": True, "field": "lsn"},
                        {"type": "int64", "optional": True, "field": "xmin"},
                    ],
                },
                {
                    "type": "struct",
                    "optional": True,
                    "field": "transaction",
                    "name": "event.block",
                    "version": 1,
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
        payload = {
            "before": self._row(table, before),
            "after": self._row(table, after),
            "source": source,
            "transaction": transaction,
            "op": op,
            "ts_ms": int(at.timestamp() * 1000),
        }
        return {"schema": schema, "payload": payload}

    def snapshot(self, table: str, rows: list[dict[str, Any]], at: datetime) -> None:
        """Initial snapshot reads (op r), no transaction metadata."""
        for n, row in enumerate(rows):
            marker = "first" if n == 0 else ("last" if n == len(rows) - 1 else "true")
            source = self._source(table, at, marker, self.tx)
            self._emit(
                f"{self.prefix}.public.{table}",
                self._key(table, str(row["id"])),
                self._envelope(table, "r", None, row, source, None, at),
                at,
            )

    def transaction(
        self,
        changes: list[tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]],
        at: datetime,
    ) -> None:
        """One committed PSA transaction: BEGIN, its changes, END (tx ids as
        Debezium's PostgreSQL connector writes them: `<txId>:<LSN>`)."""
        self.tx += 1
        self.lsn += 100
        self._marker("BEGIN", f"{self.tx}:{self.lsn}", None, at)
        counts: Counter[str] = Counter()
        for order, (table, op, before, after) in enumerate(changes, start=1):
            self.lsn += 8
            counts[f"public.{table}"] += 1
            block = {
                "id": f"{self.tx}:{self.lsn}",
                "total_order": order,
                "data_collection_order": counts[f"public.{table}"],
            }
            source = self._source(table, at, "false", self.tx)
            row_id = str((after or before or {})["id"])
            topic = f"{self.prefix}.public.{table}"
            self._emit(
                topic,
                self._key(table, row_id),
                self._envelope(table, op, before, after, source, block, at),
                at,
            )
            if op == "d":
                self._emit(topic, self._key(table, row_id), None, at)
        self.lsn += 8
        self._marker("END", f"{self.tx}:{self.lsn}", counts, at)

    def _marker(self, status: str, tx_id: str, counts: Counter[str] | None, at: datetime) -> None:
        value = {
            "status": status,
            "id": tx_id,
            "event_count": None if counts is None else sum(counts.values()),
            "data_collections": None
            if counts is None
            else [{"data_collection": name, "event_count": n} for name, n in counts.items()],
            "ts_ms": int(at.timestamp() * 1000),
        }
        self._emit(f"{self.prefix}.transaction", {"id": tx_id}, value, at)


def write_file(path: Path) -> BinaryIO:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.open("wb")
