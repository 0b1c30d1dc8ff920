"""Where reconciliation reads the PSA's current rows.

Two adapters of one small port (`PsaRows`): `PostgresPsaRows` reads a live
PSA database read-only, in one REPEATABLE READ snapshot, page by page
(psycopg 3, a server-side cursor per table); `SnapshotFilePsaRows` replays a
Debezium snapshot file (`kcat -C -J` JSONL) into the rows it ends with. Both
hand out `ChangeEvent`s shaped like a Debezium snapshot read (op "r"), so
that the CDC mapping turns them into commands exactly as it does at ingest.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

from cdc.decoding import make_decoder
from cdc.errors import DecodeError
from cdc.kcat import parse_kcat_line
from cdc.mapping import SourceMapping
from cdc.records import ChangeEvent, RawRecord
from domain.errors import InfrastructureError, InputError
from psledger.settings import redact

PAGE = 1000


class PsaRows(Protocol):
    """The PSA's current rows, table by table, as snapshot-read change events."""

    description: str
    snapshot_lsn: int | None

    def rows(self, table: str) -> Iterator[ChangeEvent]: ...

    def close(self) -> None: ...


def lsn_from_text(text: str) -> int:
    """PostgreSQL's `X/Y` LSN as the integer Debezium reports."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def lsn_text(lsn: int | None) -> str:
    return "unknown" if lsn is None else f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"


def _event(
    schema: str, table: str, row: dict[str, Any], key: dict[str, Any], where: str, lsn: int | None
) -> ChangeEvent:
    raw = RawRecord(topic=where, partition=0, offset=0, key=None, value=None)
    return ChangeEvent(
        topic=where,
        schema=schema,
        table=table,
        op="r",
        key=key,
        before=None,
        after=row,
        lsn=lsn,
        tx_id=None,
        commit_time=None,
        snapshot="true",
        connector="reconcile",
        database=None,
        transaction=None,
        raw=raw,
    )


class PostgresPsaRows:
    """A live PSA database, read in one read-only REPEATABLE READ snapshot."""

    def __init__(self, url: str, mapping: SourceMapping, page: int = PAGE) -> None:
        self.mapping = mapping
        self.page = page
        self.schema = mapping.config.schema_
        self.description = f"PSA database {redact(url)}"
        import psycopg  # here: every other command would pay for the driver's import

        try:
            self.conn = psycopg.connect(url, connect_timeout=10)
            self.conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            self.conn.read_only = True
            # The first statement fixes the snapshot; the LSN is read with it.
            found = self.conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        except psycopg.Error as exc:
            raise InfrastructureError(f"cannot read {self.description}: {_line(exc)}") from exc
        self.snapshot_lsn: int | None = lsn_from_text(found[0]) if found else None
        self._n = 0

    def rows(self, table: str) -> Iterator[ChangeEvent]:
        import psycopg
        from psycopg import sql

        spec = self.mapping.config.tables[table]
        columns = sorted(set(spec.fields.values()))
        id_column = spec.fields["id"]
        query = sql.SQL("SELECT {cols} FROM {schema}.{table} ORDER BY {id}").format(
            cols=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            schema=sql.Identifier(self.schema),
            table=sql.Identifier(table),
            id=sql.Identifier(id_column),
        )
        where = f"psa:{self.schema}.{table}"
        self._n += 1
        try:
            with self.conn.cursor(name=f"reconcile_{self._n}") as cursor:
                cursor.execute(query)
                while True:
                    page = cursor.fetchmany(self.page)
                    for values in page:
                        row = dict(zip(columns, values, strict=True))
                        yield _event(
                            self.schema,
                            table,
                            row,
                            {id_column: row[id_column]},
                            where,
                            self.snapshot_lsn,
                        )
                    if len(page) < self.page:
                        return
        except psycopg.Error as exc:
            raise InfrastructureError(
                f"cannot read {self.schema}.{table} from {self.description}: {_line(exc)}"
            ) from exc

    def close(self) -> None:
        try:
            self.conn.rollback()
        finally:
            self.conn.close()


class SnapshotFilePsaRows:
    """A Debezium snapshot file (kcat JSONL): the rows it leaves standing.

    Reads and changes are replayed in file order (a delete removes the row),
    so a snapshot followed by streamed changes gives the state at its end;
    the snapshot's LSN is the highest LSN in the file.
    """

    def __init__(self, path: Path, mapping: SourceMapping) -> None:
        self.description = f"Debezium snapshot file {path}"
        self.snapshot_lsn: int | None = None
        decode = make_decoder(mapping.column_types())
        self._tables: dict[str, dict[str, ChangeEvent]] = {}
        try:
            handle = path.open("rb")
        except OSError as exc:
            raise InputError(f"cannot read snapshot file {path}: {exc.strerror}") from exc
        with handle:
            for line_no, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    decoded = decode(parse_kcat_line(line, source=str(path), line_no=line_no))
                except DecodeError as exc:
                    raise InputError(f"{path}:{line_no}: {exc.detail}") from exc
                if isinstance(decoded, ChangeEvent) and decoded.table:
                    self._apply(decoded)

    def _apply(self, event: ChangeEvent) -> None:
        if event.lsn is not None:
            self.snapshot_lsn = max(self.snapshot_lsn or 0, event.lsn)
        rows = self._tables.setdefault(event.table or "", {})
        key = orjson.dumps(event.key, default=str, option=orjson.OPT_SORT_KEYS).decode()
        if event.op == "d":
            rows.pop(key, None)
        elif event.op in ("c", "u", "r") and event.after is not None:
            rows[key] = event

    def rows(self, table: str) -> Iterator[ChangeEvent]:
        yield from self._tables.get(table, {}).values()

    def close(self) -> None:
        self._tables.clear()


def _line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def tables_to_read(mapping: SourceMapping, wanted: Sequence[str] | None) -> list[str]:
    known = list(mapping.config.tables)
    if not wanted:
        return known
    unknown = [t for t in wanted if t not in known]
    if unknown:
        raise InputError(
            f"no mapping for table(s) {', '.join(unknown)}; the mapping has {', '.join(known)}"
        )
    return [t for t in known if t in wanted]
