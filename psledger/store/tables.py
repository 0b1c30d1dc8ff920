"""SQL for the ledger's side tables, shared by the SQLite and PostgreSQL recorders."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psledger.store import item_index
from psledger.store.rows import LedgerRows


@dataclass(frozen=True)
class Dialect:
    placeholder: str  # "?" or "%s"
    blob: str  # "BLOB" or "BYTEA"
    bigint: str
    name: str = ""  # "sqlite" or "postgres"


SQLITE = Dialect("?", "BLOB", "INTEGER", "sqlite")
POSTGRES = Dialect("%s", "BYTEA", "BIGINT", "postgres")


class LedgerTables:
    """Writes and reads psledger_* tables in one SQL dialect (their DDL is in
    psledger/store/migrations.py)."""

    def __init__(self, dialect: Dialect) -> None:
        self.d = dialect

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
                    # an entity that moves (a new parent) moves in the index too
                    "ON CONFLICT (kind, business_id) DO UPDATE SET parent_id = excluded.parent_id "
                    "WHERE excluded.parent_id IS NOT NULL",
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
                    f"INSERT INTO psledger_parked VALUES ({marks(9)}) ON CONFLICT (id) DO NOTHING",
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
                            None if r.targets is None else " ".join(r.targets),
                        )
                        for r in rows.parked
                    ],
                )
            )
        if rows.unstaged:
            out.append(
                (
                    f"DELETE FROM psledger_staged WHERE source = {p} AND part = {p} "
                    f"AND position = {p}",
                    list(rows.unstaged),
                )
            )
        if rows.staged:
            out.append(
                (
                    f"INSERT INTO psledger_staged VALUES ({marks(6)}) "
                    "ON CONFLICT (source, part, position) DO NOTHING",
                    [
                        (r.source, r.partition, r.offset, r.tx_id, r.raw, r.staged_at.isoformat())
                        for r in rows.staged
                    ],
                )
            )
        if rows.source_order:
            greatest = "MAX" if self.d.name == "sqlite" else "GREATEST"
            out.append(
                (
                    f"INSERT INTO psledger_source_order VALUES ({marks(2)}) "
                    "ON CONFLICT (entity) DO UPDATE SET "
                    f"lsn = {greatest}(psledger_source_order.lsn, excluded.lsn)",
                    list(rows.source_order),
                )
            )
        if rows.outbox:
            out.append(
                (
                    f"INSERT INTO psledger_outbox VALUES ({marks(3)}, NULL) "
                    "ON CONFLICT (number) DO NOTHING",
                    [(r.number, r.payload, r.created_at.isoformat()) for r in rows.outbox],
                )
            )
        if rows.outbox_sent:
            out.append(
                (
                    f"UPDATE psledger_outbox SET sent_at = {p} WHERE number = {p}",
                    [(sent_at, number) for number, sent_at in rows.outbox_sent],
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
        out.extend(item_index.writes(p, rows.item_states))  # the billing index, same transaction
        return out

    # -- reads ---------------------------------------------------------------

    def any_of(self, column: str, n: int) -> str:
        """`column` is one of n values: `IN (?, ...)` on SQLite; on PostgreSQL
        `= ANY(%s)`, one array parameter (a short statement psycopg parses
        once, where a long IN list is parsed placeholder by placeholder)."""
        if self.d.name == "postgres":
            return f"{column} = ANY(%b)"  # a binary array: text arrays cost 8x to send
        return f"{column} IN ({', '.join([self.d.placeholder] * n)})"

    def values(self, values: Sequence[Any]) -> list[Any]:
        """The parameters that `any_of` asks for these values."""
        return [list(values)] if self.d.name == "postgres" else list(values)

    def q_dedup(self, n: int) -> str:
        return f"SELECT key, result FROM psledger_dedup WHERE {self.any_of('key', n)}"

    def q_entities(self, with_parent: bool) -> str:
        sql = (
            "SELECT business_id, parent_id FROM psledger_entities WHERE kind = "
            + self.d.placeholder
        )
        if with_parent:
            sql += " AND parent_id = " + self.d.placeholder
        return sql + " ORDER BY business_id"

    def q_entities_in(self, n: int) -> str:
        return (
            "SELECT business_id FROM psledger_entities WHERE kind = "
            f"{self.d.placeholder} AND {self.any_of('business_id', n)}"
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

    def q_staged(self, n: int) -> str:
        return (
            "SELECT tx_id, source, part, position, raw FROM psledger_staged "
            f"WHERE {self.any_of('tx_id', n)} ORDER BY source, part, position"
        )

    def q_source_order(self, n: int) -> str:
        return f"SELECT entity, lsn FROM psledger_source_order WHERE {self.any_of('entity', n)}"

    def q_staged_txs(self) -> str:
        return "SELECT DISTINCT tx_id FROM psledger_staged"

    def q_position(self) -> str:
        p = self.d.placeholder
        return f"SELECT position FROM psledger_positions WHERE source = {p} AND part = {p}"
