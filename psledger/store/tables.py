"""SQL for the ledger's side tables, shared by the SQLite and PostgreSQL recorders."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psledger.store.rows import LedgerRows


@dataclass(frozen=True)
class Dialect:
    placeholder: str  # "?" or "%s"
    blob: str  # "BLOB" or "BYTEA"
    bigint: str


SQLITE = Dialect("?", "BLOB", "INTEGER")
POSTGRES = Dialect("%s", "BYTEA", "BIGINT")


class LedgerTables:
    """Creates, writes and reads psledger_* tables in one SQL dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect

    def create_statements(self) -> list[str]:
        d = self.d
        return [
            "CREATE TABLE IF NOT EXISTS psledger_dedup ("
            "key TEXT PRIMARY KEY, result TEXT NOT NULL, recorded_at TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS psledger_entities ("
            "kind TEXT NOT NULL, business_id TEXT NOT NULL, parent_id TEXT, "
            "PRIMARY KEY (kind, business_id))",
            "CREATE INDEX IF NOT EXISTS psledger_entities_parent "
            "ON psledger_entities (kind, parent_id)",
            "CREATE TABLE IF NOT EXISTS psledger_quarantine ("
            f"id TEXT PRIMARY KEY, source TEXT NOT NULL, part {d.bigint} NOT NULL, "
            f"position {d.bigint} NOT NULL, record_key TEXT, raw {d.blob} NOT NULL, "
            "reason TEXT NOT NULL, detail TEXT NOT NULL, created_at TEXT NOT NULL, "
            "status TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS psledger_parked ("
            f"id TEXT PRIMARY KEY, waits_for TEXT NOT NULL, source TEXT NOT NULL, "
            f"part {d.bigint} NOT NULL, position {d.bigint} NOT NULL, raw {d.blob} NOT NULL, "
            "reason TEXT NOT NULL, parked_at TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS psledger_parked_waits ON psledger_parked (waits_for)",
            "CREATE TABLE IF NOT EXISTS psledger_positions ("
            f"source TEXT NOT NULL, part {d.bigint} NOT NULL, position {d.bigint} NOT NULL, "
            "PRIMARY KEY (source, part))",
        ]

    def writes(self, rows: LedgerRows) -> list[tuple[str, list[tuple[Any, ...]]]]:
        """(statement, parameter rows) pairs for executemany, in order."""
        p = self.d.placeholder

        def marks(n: int) -> str:
            return ", ".join([p] * n)

        out: list[tuple[str, list[tuple[Any, ...]]]] = []
        if rows.dedup:
            out.append(
                (
                    f"INSERT INTO psledger_dedup VALUES ({marks(3)})",
                    [(r.key, r.result, r.recorded_at.isoformat()) for r in rows.dedup],
                )
            )
        if rows.entities:
            out.append(
                (
                    f"INSERT INTO psledger_entities VALUES ({marks(3)}) "
                    "ON CONFLICT (kind, business_id) DO NOTHING",
                    [(r.kind, r.business_id, r.parent_id) for r in rows.entities],
                )
            )
        if rows.quarantine:
            out.append(
                (
                    f"INSERT INTO psledger_quarantine VALUES ({marks(10)}) "
                    "ON CONFLICT (id) DO NOTHING",
                    [
                        (
                            r.id,
                            r.source,
                            r.partition,
                            r.offset,
                            r.record_key,
                            r.raw,
                            r.reason,
                            r.detail,
                            r.created_at.isoformat(),
                            r.status,
                        )
                        for r in rows.quarantine
                    ],
                )
            )
        if rows.quarantine_status:
            out.append(
                (
                    f"UPDATE psledger_quarantine SET status = {p} WHERE id = {p}",
                    [(status, qid) for qid, status in rows.quarantine_status],
                )
            )
        if rows.unparked:
            out.append(
                (f"DELETE FROM psledger_parked WHERE id = {p}", [(i,) for i in rows.unparked])
            )
        if rows.parked:
            out.append(
                (
                    f"INSERT INTO psledger_parked VALUES ({marks(8)}) ON CONFLICT (id) DO NOTHING",
                    [
                        (
                            r.id,
                            r.waits_for,
                            r.source,
                            r.partition,
                            r.offset,
                            r.raw,
                            r.reason,
                            r.parked_at.isoformat(),
                        )
                        for r in rows.parked
                    ],
                )
            )
        if rows.positions:
            out.append(
                (
                    f"INSERT INTO psledger_positions VALUES ({marks(3)}) "
                    "ON CONFLICT (source, part) DO UPDATE SET position = excluded.position",
                    [(r.source, r.partition, r.offset) for r in rows.positions],
                )
            )
        return out

    # -- reads ---------------------------------------------------------------

    def q_dedup(self, n: int) -> str:
        return (
            "SELECT key, result FROM psledger_dedup WHERE key IN "
            f"({', '.join([self.d.placeholder] * n)})"
        )

    def q_entities(self, with_parent: bool) -> str:
        sql = (
            "SELECT business_id, parent_id FROM psledger_entities WHERE kind = "
            + self.d.placeholder
        )
        if with_parent:
            sql += " AND parent_id = " + self.d.placeholder
        return sql + " ORDER BY business_id"

    def q_entities_in(self, n: int) -> str:
        marks = ", ".join([self.d.placeholder] * n)
        return (
            "SELECT business_id FROM psledger_entities WHERE kind = "
            f"{self.d.placeholder} AND business_id IN ({marks})"
        )

    def q_entity_kinds(self) -> str:
        return "SELECT kind FROM psledger_entities WHERE business_id = " + self.d.placeholder

    def q_quarantine(self, by_id: bool) -> str:
        sql = (
            "SELECT id, source, part, position, record_key, raw, reason, detail, created_at, "
            "status FROM psledger_quarantine"
        )
        if by_id:
            return sql + " WHERE id = " + self.d.placeholder
        return sql + " WHERE status = " + self.d.placeholder + " ORDER BY created_at, id"

    def q_parked(self, by_waits_for: bool) -> str:
        sql = (
            "SELECT id, waits_for, source, part, position, raw, reason, parked_at "
            "FROM psledger_parked"
        )
        if by_waits_for:
            return sql + " WHERE waits_for = " + self.d.placeholder + " ORDER BY parked_at, id"
        return sql + " ORDER BY parked_at, id"

    def q_parked_waits(self) -> str:
        return "SELECT DISTINCT waits_for FROM psledger_parked"

    def q_position(self) -> str:
        p = self.d.placeholder
        return f"SELECT position FROM psledger_positions WHERE source = {p} AND part = {p}"
