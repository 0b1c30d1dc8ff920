"""The audit journal's SQL in the two dialects, and events as read back.

See psledger/store/journal.py for what the journal is. No driver is
imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple
from uuid import UUID

JOURNAL_TABLE = "psledger_journal"
MAX_POSITION = 2**63 - 1

# The table, with {bigint} and {blob} filled in per dialect (also by the migration).
JOURNAL_DDL = [
    f"CREATE TABLE IF NOT EXISTS {JOURNAL_TABLE} ("
    "notification_id {bigint} PRIMARY KEY, chain_hash {blob} NOT NULL)"
]


class EventRow(NamedTuple):
    """One stored event as read back, with its position (a tuple in
    `chain_entries`' order)."""

    notification_id: int
    originator_id: UUID | str
    originator_version: int
    topic: str
    state: bytes


@dataclass(frozen=True)
class JournalSql:
    """The journal's SQL in one dialect."""

    name: str
    p: str  # placeholder
    position: str  # the events table's notification id column
    blob: str
    bigint: str
    events: str = "stored_events"
    uuid_ids: bool = False  # PostgreSQL's originator ids are a uuid column

    def create(self) -> list[str]:
        return [s.format(bigint=self.bigint, blob=self.blob) for s in JOURNAL_DDL]

    def exists(self) -> str:
        if self.name == "sqlite":
            return (
                "SELECT count(*) FROM sqlite_master "
                f"WHERE type = 'table' AND name = '{JOURNAL_TABLE}'"
            )
        return (
            f"SELECT count(*) FROM (SELECT to_regclass('{JOURNAL_TABLE}') AS t) r "
            "WHERE t IS NOT NULL"
        )

    def head(self) -> str:
        return (
            f"SELECT notification_id, chain_hash FROM {JOURNAL_TABLE} "
            "ORDER BY notification_id DESC LIMIT 1"
        )

    def head_and_tail(self) -> str:
        """The chain's head, and how many events (at most the second parameter) lie
        unchained between it and the first position of a new batch."""
        p, pos = self.p, self.position
        return (
            "WITH head AS ("
            f"SELECT notification_id, chain_hash FROM {JOURNAL_TABLE} "
            "ORDER BY notification_id DESC LIMIT 1) "
            "SELECT h.notification_id, h.chain_hash, (SELECT count(*) FROM ("
            f"SELECT 1 FROM {self.events} e WHERE e.{pos} > "
            f"COALESCE((SELECT notification_id FROM head), 0) AND e.{pos} < {p} "
            f"LIMIT {p}) g) "
            "FROM (SELECT 1 AS one) o LEFT JOIN head h ON 1 = 1"
        )

    def events_between(self, limit: bool) -> str:
        p, pos = self.p, self.position
        sql = (
            f"SELECT {pos}, originator_id, originator_version, topic, state FROM {self.events} "
            f"WHERE {pos} > {p} AND {pos} < {p} ORDER BY {pos}"
        )
        return sql + (f" LIMIT {p}" if limit else "")

    def chain_page(self) -> str:
        """Events after a position, each with its chain entry (NULL when it has
        none), in position order: one page of verification. The originator id
        and topic come as the bytes that are hashed (see `chain_hash`)."""
        p, pos = self.p, self.position
        if self.name == "sqlite":
            oid, topic = "CAST(e.originator_id AS BLOB)", "CAST(e.topic AS BLOB)"
        else:
            text = (
                "encode(uuid_send(e.originator_id), 'hex')" if self.uuid_ids else "e.originator_id"
            )
            oid, topic = f"convert_to({text}, 'UTF8')", "convert_to(e.topic, 'UTF8')"
        return (
            f"SELECT e.{pos}, {oid}, e.originator_version, {topic}, e.state, j.chain_hash "
            f"FROM {self.events} e LEFT JOIN {JOURNAL_TABLE} j "
            # the second condition is implied; it bounds a merge join's scan of the journal
            f"ON j.notification_id = e.{pos} AND j.notification_id > {p} "
            f"WHERE e.{pos} > {p} ORDER BY e.{pos} LIMIT {p}"
        )

    def count_entries(self) -> str:
        p = self.p
        return (
            f"SELECT count(*) FROM {JOURNAL_TABLE} "
            f"WHERE notification_id > {p} AND notification_id < {p}"
        )

    def count_events(self) -> str:
        """How many events lie between two positions, and the last of them."""
        p, pos = self.p, self.position
        return f"SELECT count(*), max({pos}) FROM {self.events} WHERE {pos} > {p} AND {pos} < {p}"

    def first_orphan(self) -> str:
        """The first chain entry between two positions whose event is gone."""
        p, pos = self.p, self.position
        return (
            f"SELECT j.notification_id FROM {JOURNAL_TABLE} j "
            f"WHERE j.notification_id > {p} AND j.notification_id < {p} AND NOT EXISTS ("
            f"SELECT 1 FROM {self.events} e WHERE e.{pos} = j.notification_id) "
            "ORDER BY j.notification_id LIMIT 1"
        )

    def events_before(self) -> str:
        p, pos = self.p, self.position
        return (
            f"SELECT {pos}, originator_id, originator_version, topic, state FROM {self.events} "
            f"WHERE {pos} < {p} ORDER BY {pos} DESC LIMIT {p}"
        )

    def insert(self) -> str:
        return (
            f"INSERT INTO {JOURNAL_TABLE} (notification_id, chain_hash) VALUES ({self.p}, {self.p})"
        )

    def insert_after_head(self) -> str:
        """PostgreSQL: a batch's chain entries (two binary arrays), inserted
        only while the chain still ends at the given position and hash and no
        event lies unchained between it and the batch; otherwise none."""
        pos = self.position
        return (
            f"INSERT INTO {JOURNAL_TABLE} (notification_id, chain_hash) "
            "SELECT * FROM unnest(%b::bigint[], %b::bytea[]) "
            f"WHERE (SELECT max(notification_id) FROM {JOURNAL_TABLE}) = %s "
            f"AND (SELECT chain_hash FROM {JOURNAL_TABLE} WHERE notification_id = %s) = %s "
            f"AND NOT EXISTS (SELECT 1 FROM {self.events} WHERE {pos} > %s AND {pos} < %s)"
        )

    def entries_between(self) -> str:
        p = self.p
        return (
            f"SELECT notification_id, chain_hash FROM {JOURNAL_TABLE} "
            f"WHERE notification_id > {p} AND notification_id <= {p} ORDER BY notification_id"
        )

    def entry_before(self) -> str:
        return (
            f"SELECT notification_id, chain_hash FROM {JOURNAL_TABLE} "
            f"WHERE notification_id < {self.p} ORDER BY notification_id DESC LIMIT 1"
        )

    def max_position(self) -> str:
        return f"SELECT max({self.position}) FROM {self.events}"

    def lock(self) -> list[str]:
        if self.name == "sqlite":
            return []
        return [f"LOCK TABLE {self.events} IN EXCLUSIVE MODE"]


SQLITE = JournalSql("sqlite", "?", "rowid", "BLOB", "INTEGER")
POSTGRES = JournalSql("postgres", "%s", "notification_id", "BYTEA", "BIGINT", uuid_ids=True)


def dialect_of(recorder: Any) -> JournalSql:
    from eventsourcing.sqlite import SQLiteApplicationRecorder

    base = SQLITE if isinstance(recorder, SQLiteApplicationRecorder) else POSTGRES
    table = getattr(recorder, "events_table_name", "stored_events")
    schema = getattr(getattr(recorder, "datastore", None), "schema", "public")
    if base is POSTGRES and isinstance(schema, str) and schema not in ("", "public"):
        table = f'"{schema}"."{table}"'
    uuid_ids = base is POSTGRES and (
        getattr(getattr(recorder, "datastore", None), "originator_id_type", "uuid") == "uuid"
    )
    if table == base.events and uuid_ids == base.uuid_ids:
        return base
    return JournalSql(base.name, base.p, base.position, base.blob, base.bigint, table, uuid_ids)


def row_tuple(row: Any) -> tuple[Any, ...]:
    return tuple(row.values()) if isinstance(row, dict) else tuple(row)


def event_row(row: Any) -> EventRow:
    nid, oid, version, topic, state = row.values() if isinstance(row, dict) else row
    return EventRow(nid, oid, version, topic, state if type(state) is bytes else bytes(state))
