"""The ledger's side of a reconciliation: its aggregates, its entity index,
what is parked or quarantined, and the last source LSN it applied."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import StoredEvent

from cdc.decoding import make_decoder
from cdc.kcat import parse_kcat_line
from cdc.mapping import SourceMapping
from cdc.records import ChangeEvent
from domain.base import LedgerAggregate
from domain.errors import LedgerError
from psledger.store.journal import JournalStore

PAGE = 1000
LSN_SCAN_LIMIT = 50_000  # events read back from the head to find the last CDC change
# a streamed change's dedup key: cdc:<schema.table>:<key>:<op>:<lsn>:<txId>
_STREAMED = re.compile(r":[cud]:(\d+):[^:]*$")


class LedgerSide:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.journal = JournalStore(app.recorder)
        self.p = self.journal.sql.p
        self._loaded: dict[UUID, LedgerAggregate | None] = {}

    # -- aggregates -----------------------------------------------------------

    def load(self, cls: type[LedgerAggregate], business_id: str) -> LedgerAggregate | None:
        key = cls.id_for(business_id)
        if key not in self._loaded:
            try:
                self._loaded[key] = self.app.repository.get(key)
            except AggregateNotFoundError:
                self._loaded[key] = None
        found = self._loaded[key]
        return found if isinstance(found, cls) else None

    def forget(self) -> None:
        """Drop what was loaded for the last page (memory stays bounded)."""
        self._loaded.clear()

    def business_ids(self, kind: str) -> Iterator[str]:
        """The entity index's business ids of one kind, in pages."""
        p, after = self.p, ""
        while True:
            rows = self._fetch(
                f"SELECT business_id FROM psledger_entities WHERE kind = {p} "
                f"AND business_id > {p} ORDER BY business_id LIMIT {PAGE}",
                [kind, after],
            )
            for (business_id,) in rows:
                yield str(business_id)
            if len(rows) < PAGE:
                return
            after = str(rows[-1][0])

    # -- why an entity differs ------------------------------------------------

    def reasons(self, mapping: SourceMapping) -> dict[tuple[str, str], list[str]]:
        """Open quarantine and parking rows, by the entities their records name."""
        found: dict[tuple[str, str], list[str]] = {}
        decode = make_decoder(mapping.column_types())
        quarantined = self._fetch(
            "SELECT id, raw, reason, detail FROM psledger_quarantine WHERE status = "
            f"{self.p} ORDER BY id",
            ["open"],
        )
        for qid, raw, reason, detail in quarantined:
            for key in _entities(bytes(raw), decode, mapping):
                found.setdefault(key, []).append(f"quarantined {qid}: {reason}: {detail}")
        parked = self._fetch(
            "SELECT id, raw, reason, waits_for FROM psledger_parked ORDER BY id", []
        )
        for pid, raw, reason, waits_for in parked:
            for key in _entities(bytes(raw), decode, mapping):
                found.setdefault(key, []).append(
                    f"parked {pid}: waits for {str(waits_for).replace(':', ' ', 1)} ({reason})"
                )
        return found

    def deleted_through_cdc(self, mapping: SourceMapping) -> set[tuple[str, str]]:
        """Entities whose row deletion came through CDC (their dedup keys,
        `cdc:<schema.table>:<key>:d:...`, see psledger/dedup_keys.py)."""
        out: set[tuple[str, str]] = set()
        rows = self._fetch(f"SELECT key FROM psledger_dedup WHERE key LIKE {self.p}", ["cdc:%:d:%"])
        for (key,) in rows:
            head, _, rest = str(key).partition(":")
            table, _, rest = rest.partition(":")
            record_key, sep, _tail = rest.rpartition(":d:")
            spec = mapping.config.tables.get(table.rpartition(".")[2])
            if head != "cdc" or not sep or spec is None:
                continue
            try:
                value = orjson.loads(record_key).get(spec.fields["id"])
            except (orjson.JSONDecodeError, AttributeError):
                continue
            if value is not None:
                out.add((spec.entity, str(value)))
        return out

    # -- the ledger's position in the source ------------------------------------

    def last_lsn(self) -> int | None:
        """The LSN of the last PSA change the ledger applied: the highest of
        the streamed changes' dedup keys (recorded even for a change that
        appended no event) and of the newest PSA event's provenance (a
        snapshot read carries the snapshot's LSN)."""
        found = [lsn for lsn in (self._dedup_lsn(), self._event_lsn()) if lsn is not None]
        return max(found) if found else None

    def _dedup_lsn(self) -> int | None:
        best: int | None = None
        p, after = self.p, "cdc:"
        while True:
            rows = self._fetch(
                f"SELECT key FROM psledger_dedup WHERE key > {p} AND key LIKE {p} "
                f"ORDER BY key LIMIT {PAGE}",
                [after, "cdc:%"],
            )
            for (key,) in rows:
                match = _STREAMED.search(str(key))
                if match:
                    best = max(best or 0, int(match[1]))
            if len(rows) < PAGE:
                return best
            after = str(rows[-1][0])

    def _event_lsn(self) -> int | None:
        position, read = self.journal.max_position() + 1, 0
        while read < LSN_SCAN_LIMIT:
            events = self.journal.events_before(position, PAGE)
            if not events:
                return None
            for ev in events:
                stored = StoredEvent(ev.originator_id, ev.originator_version, ev.topic, ev.state)
                try:
                    domain_event = self.app.mapper.to_domain_event(stored)
                except Exception:  # an event this version cannot read is not a position
                    continue
                provenance = getattr(domain_event, "provenance", None)
                if provenance is not None and provenance.source_system == "psa" and provenance.lsn:
                    return int(provenance.lsn)
            read += len(events)
            position = events[-1].notification_id
        return None

    def _fetch(self, statement: str, params: list[Any]) -> list[tuple[Any, ...]]:
        return list(self.app.recorder.fetch(statement, params))


def _entities(raw: bytes, decode: Any, mapping: SourceMapping) -> list[tuple[str, str]]:
    """(entity, business id) of each CDC change in a parked or quarantined
    record (kcat lines); nothing for records that are not CDC changes."""
    out: list[tuple[str, str]] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        try:
            decoded = decode(parse_kcat_line(line, source="set-aside", line_no=n))
        except (LedgerError, ValueError):
            continue
        if not isinstance(decoded, ChangeEvent) or decoded.table is None:
            continue
        spec = mapping.config.tables.get(decoded.table)
        image = decoded.after or decoded.before or decoded.key or {}
        if spec is not None and image.get(spec.fields["id"]) is not None:
            out.append((spec.entity, str(image[spec.fields["id"]])))
    return out
