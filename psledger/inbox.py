"""The one inbox: every change that enters the ledger is decided here.

Adapters (`psledger.inbound`) turn a CDC unit from a file, Kafka or the
Debezium engine, a webhook from HTTP or the CLI, a quarantined record being
replayed and a parked record being released into the same `Inbound` unit.
`Inbox.apply` decides a batch of units in one transaction:

1. release: parked units whose dependency now exists join the batch, in
   arrival order, ahead of it (and, while deciding, right after the unit that
   creates what they wait for);
2. dedup: a unit whose keys are all recorded is a duplicate (a webhook id
   recorded with another body is refused as `webhook_id_reused`);
3. order: a later change of an entity whose earlier change is parked waits
   behind it;
4. handle: the unit's commands run through the domain; a unit that fails is
   taken out and the batch is decided again without it, so no unit leaves
   half its events;
5. set aside: a unit waiting for another record is parked (a re-park
   records what it waits for now), anything else refused is quarantined;
6. commit: events, dedup keys, entity index, parked, quarantine, staged and
   position rows in one transaction. A concurrent writer means "decide
   again on the new state" (`psledger.app.retrying`), never "fail".

After the commit, a batch that parked something or created an entity that
a parked unit waits for looks once more for what it can release, so two
writers racing (one parks, the other creates the dependency) never leave a
unit parked for good.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import orjson

from cdc.kcat import to_kcat_line
from cdc.records import RawRecord
from domain import commands as c
from domain.base import LedgerAggregate
from domain.errors import InputError, LedgerError, MissingDependency
from domain.handlers import ITEM_KINDS, handle
from domain.project import Project
from psledger.app import LedgerApplication, UnitOfWork, retrying
from psledger.ops import metrics
from psledger.store.rows import DedupRow, ParkedRow, PositionRow, QuarantineRow, StagedRow

Clock = Callable[[], datetime]


class WebhookIdReused(InputError):
    """A known webhook id arrived with another body: a conflict, not a redelivery."""

    reason = "webhook_id_reused"


@dataclass
class Inbound:
    """One unit to decide, with what identifies it and what keeps it."""

    label: str
    source: str
    partition: int
    offset: int
    raw: bytes
    commands: list[c.Command] = field(default_factory=list)
    dedup_keys: list[str] = field(default_factory=list)
    marker_keys: list[str] = field(default_factory=list)  # recorded however it settles
    record_key: str | None = None
    error: LedgerError | None = None  # decided before apply: set it aside
    content_hash: str | None = None  # a webhook's body: the same id with another body is refused
    parked_id: str | None = None  # set when releasing a parked unit
    parked_at: datetime | None = None
    quarantine_id: str | None = None  # set when replaying a quarantined unit
    staged: list[tuple[str, int, int]] = field(default_factory=list)  # staged pieces it settles
    records: tuple[RawRecord, ...] = ()  # a CDC unit's records; `raw` is made from them on demand

    def stored(self) -> bytes:
        """The bytes kept when the unit is set aside: a CDC unit's records as
        kcat lines, serialised only when it is parked or quarantined."""
        if not self.raw and self.records:
            self.raw = b"".join(to_kcat_line(record) for record in self.records)
        return self.raw

    @property
    def answers_with_event_ids(self) -> bool:
        """A webhook delivery: a redelivery is answered with its event ids."""
        return self.source.startswith("webhook:")

    @property
    def row_id(self) -> str:
        digest = hashlib.sha256(self.stored()).hexdigest()[:16]
        return f"{self.source}:{self.partition}:{self.offset}:{digest}"


@dataclass(frozen=True)
class Outcome:
    """How one unit settled: applied, duplicate, parked or quarantined."""

    status: str
    event_ids: list[str] = field(default_factory=list)
    error: LedgerError | None = None


@dataclass
class InboxReport:
    applied: int = 0
    duplicates: int = 0
    superseded: int = 0  # changes older than what their entity already has
    parked: int = 0
    quarantined: int = 0
    released: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)
    set_aside: list[tuple[Inbound, LedgerError]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)  # one per unit of the batch given

    def add(self, other: InboxReport) -> None:
        for name in (
            "applied",
            "duplicates",
            "superseded",
            "parked",
            "quarantined",
            "released",
            "events",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems)
        self.set_aside.extend(other.set_aside)


class StoredReader(Protocol):
    """Reads a stored record (parked, quarantined or staged) back into a unit."""

    def __call__(
        self,
        row_id: str,
        source: str,
        partition: int,
        offset: int,
        raw: bytes,
        record_key: str | None,
    ) -> Inbound: ...


TRANSACTION = "transaction:"  # waits_for of a change behind a staged source transaction


def command_target(cmd: c.Command) -> str | None:
    """The entity (kind:business id) a PSA command changes, if it changes one."""
    if isinstance(cmd, c.SyncWorkItem | c.WithdrawWorkItem):
        return f"{cmd.kind}:{cmd.item_id}"
    if isinstance(cmd, c.SyncProject):
        return f"project:{cmd.project_id}"
    if isinstance(cmd, c.SyncAssignment):
        return f"assignment:{cmd.assignment_id}"
    if isinstance(cmd, c.SyncRateLine):
        return f"rate_line:{cmd.rate_card_id}:{cmd.line.line_id}"
    if isinstance(cmd, c.RemoveRateLine):
        return f"rate_line:{cmd.rate_card_id}:{cmd.line_id}"
    if isinstance(cmd, c.SyncRateCard):
        return f"rate_card:{cmd.rate_card_id}"
    return None


def targets(unit: Inbound) -> list[str]:
    """The entities (kind:business id) a unit's commands change."""
    return [t for cmd in unit.commands if (t := command_target(cmd)) is not None]


def _source_position(cmd: c.Command) -> tuple[str, int] | None:
    """(entity, LSN) of a PSA change, for ordering changes of one entity."""
    target = command_target(cmd)
    lsn = getattr(getattr(cmd, "provenance", None), "lsn", None)
    return None if target is None or lsn is None else (target, int(lsn))


def event_ids(uow: UnitOfWork) -> list[str]:
    """Readable ids of the events a unit of work is about to append."""
    return [
        f"{agg.KIND}:{agg.business_id}@{event.originator_version}"
        for agg in uow.touched()
        for event in agg.pending_events
    ]


class Inbox:
    """Decides batches of inbound units; see the module docstring."""

    def __init__(self, app: LedgerApplication, read_stored: StoredReader, clock: Clock) -> None:
        self.app = app
        self.read_stored = read_stored
        self.clock = clock
        self._targets: dict[str, list[str]] = {}  # parked or staged row -> entities it changes

    def reparse(self, rows: list[ParkedRow]) -> list[Inbound]:
        """Parked rows as units again, to be released."""
        units = []
        for row in rows:
            unit = self.read_stored(row.id, row.source, row.partition, row.offset, row.raw, None)
            unit.parked_id = row.id
            unit.parked_at = row.parked_at
            units.append(unit)
        return units

    @metrics.observed_inbox
    def apply(
        self,
        batch: Sequence[Inbound],
        positions: Sequence[PositionRow] = (),
        staged: Sequence[StagedRow] = (),
    ) -> InboxReport:
        """Decide and commit a batch (with the source positions it reaches and
        the pieces of incomplete source transactions it stages)."""
        report, _ = retrying(lambda: self._decide(list(batch), positions, staged))
        if report.parked or report.applied:
            report.add(self.release_waiting())
        return report

    def release_waiting(self) -> InboxReport:
        """Apply what waits for an entity that exists now. Every batch does this
        first; run after a commit, it closes the race of one writer parking a
        unit while another creates what it waits for."""
        if not self._releasable(()):
            return InboxReport()
        report, _ = retrying(lambda: self._decide([], (), ()))
        return report

    # -- deciding ----------------------------------------------------------------

    def _decide(
        self,
        batch: list[Inbound],
        positions: Sequence[PositionRow],
        staged: Sequence[StagedRow],
    ) -> tuple[InboxReport, UnitOfWork]:
        given = {id(unit) for unit in batch}
        units = self._releasable(batch) + batch
        seen = self.dedup_lookup([k for u in units for k in (*u.dedup_keys, *u.marker_keys)])
        failures: dict[int, LedgerError] = {id(u): u.error for u in units if u.error is not None}
        waiting_for = self.waits_for()
        applied_order = self._source_order(units)
        while True:
            newest = dict(applied_order)  # entity -> newest LSN applied (this pass included)
            uow = UnitOfWork(self.app)
            _preload(uow, units)
            report = InboxReport()
            outcomes: dict[int, Outcome] = {}
            in_batch: set[str] = set()
            # entity -> what an earlier parked or staged change of it waits for
            blocked = self._parked_targets({u.parked_id for u in units if u.parked_id})
            blocked.update(self._staged_targets(units, staged))
            again = False
            i = 0
            while i < len(units):
                unit = units[i]
                i += 1
                error = failures.get(id(unit))
                if error is not None:
                    if isinstance(error, MissingDependency):
                        blocked.update(dict.fromkeys(targets(unit), error.waits_for))
                    continue
                keys = unit.dedup_keys
                if keys and all(k in seen or k in in_batch for k in keys):
                    reused = self._reused(unit, seen)
                    if reused is not None:
                        failures[id(unit)] = reused
                        continue
                    first = orjson.loads(seen.get(keys[0], "{}") or "{}")
                    outcomes[id(unit)] = Outcome("duplicate", list(first.get("event_ids", [])))
                    report.duplicates += 1
                    self._settle(uow, unit, "duplicate")
                    continue
                mine = targets(unit)
                behind = next((t for t in mine if t in blocked and blocked[t] not in mine), None)
                if behind is not None:
                    # a later change of an entity whose earlier change is parked
                    # waits behind it: applied first, it would be undone on release
                    failures[id(unit)] = MissingDependency(
                        f"{unit.label} waits behind an earlier parked change of {behind}",
                        waits_for=blocked[behind],
                    )
                    blocked.update(dict.fromkeys(mine, blocked[behind]))
                    continue
                current = [
                    cmd
                    for cmd in unit.commands
                    if (pos := _source_position(cmd)) is None or newest.get(pos[0], -1) <= pos[1]
                ]
                if unit.commands and not current:
                    # every change of it is older than what its entities have: the
                    # source has moved on (a late copy or a change released late)
                    outcomes[id(unit)] = Outcome("superseded")
                    report.superseded += 1
                    fresh = [k for k in keys if k not in seen and k not in in_batch]
                    in_batch.update(fresh)
                    now = self.clock()
                    uow.rows.dedup.extend(DedupRow(k, '{"superseded": true}', now) for k in fresh)
                    self._settle(uow, unit, "superseded")
                    continue
                before = set(event_ids(uow)) if unit.answers_with_event_ids else set()
                entities_before = len(uow.rows.entities)
                try:
                    for command in current:
                        handle(command, uow)
                except LedgerError as exc:
                    failures[id(unit)] = exc
                    again = True  # decide the batch again without the failed unit
                    break
                fresh = [k for k in keys if k not in seen and k not in in_batch]
                in_batch.update(fresh)
                ids = (
                    [e for e in event_ids(uow) if e not in before]
                    if unit.answers_with_event_ids
                    else []
                )
                answer: dict[str, object] = {}
                if unit.answers_with_event_ids:  # a webhook's redelivery gets this answer
                    answer = {"event_ids": ids, "body": unit.content_hash}
                now = self.clock()
                uow.rows.dedup.extend(
                    DedupRow(k, orjson.dumps(answer).decode(), now) for k in fresh
                )
                self._settle(uow, unit, "replayed")
                for cmd in current:
                    if (pos := _source_position(cmd)) is not None:
                        newest[pos[0]] = max(newest.get(pos[0], -1), pos[1])
                        uow.rows.source_order.append(pos)
                outcomes[id(unit)] = Outcome("applied", ids if unit.answers_with_event_ids else [])
                if unit.parked_id is not None:
                    report.released += 1
                report.applied += 1
                created = [f"{r.kind}:{r.business_id}" for r in uow.rows.entities[entities_before:]]
                created.extend(_settled_transactions(unit))
                released = self._waiting_on([k for k in created if k in waiting_for], units)
                if released:
                    units[i:i] = released  # right after what they waited for
                    applied_order.update(self._source_order(released))
                    seen.update(
                        self.dedup_lookup(
                            [k for u in released for k in (*u.dedup_keys, *u.marker_keys)]
                        )
                    )
                    again = True
                    break
            if again:
                continue
            for unit in units:
                error = failures.get(id(unit))
                if error is not None:
                    outcomes[id(unit)] = self._set_aside(uow, unit, error, report)
            now = self.clock()
            for unit in units:
                for k in unit.marker_keys:
                    if k not in seen and k not in in_batch:
                        in_batch.add(k)
                        uow.rows.dedup.append(DedupRow(k, "{}", now))
            uow.rows.positions.extend(positions)
            uow.rows.staged.extend(staged)
            report.events = uow.pending_count()
            report.outcomes = [outcomes[id(u)] for u in units if id(u) in given]
            return report, uow

    @staticmethod
    def _reused(unit: Inbound, seen: dict[str, str]) -> LedgerError | None:
        """A webhook id recorded with another body."""
        if unit.content_hash is None:
            return None
        first = orjson.loads(seen.get(unit.dedup_keys[0], "{}") or "{}")
        recorded = first.get("body")
        if recorded is None or recorded == unit.content_hash:
            return None
        return WebhookIdReused(
            f"{unit.label}: webhook id {unit.record_key!r} was already delivered "
            "with another body; a changed event needs a new id"
        )

    def _settle(self, uow: UnitOfWork, unit: Inbound, status: str) -> None:
        """A parked or quarantined unit that now applies leaves its table."""
        if unit.parked_id is not None:
            uow.rows.unparked.append(unit.parked_id)
        if unit.quarantine_id is not None:
            uow.rows.quarantine_status.append((unit.quarantine_id, status))
        uow.rows.unstaged.extend(unit.staged)

    def _set_aside(
        self, uow: UnitOfWork, unit: Inbound, exc: LedgerError, report: InboxReport
    ) -> Outcome:
        now = self.clock()
        uow.rows.unstaged.extend(unit.staged)
        if isinstance(exc, MissingDependency) and unit.quarantine_id is None:
            report.parked += 1
            if unit.parked_id is not None:
                uow.rows.unparked.append(unit.parked_id)  # re-parked: what it waits for now
            uow.rows.parked.append(
                ParkedRow(
                    unit.parked_id or unit.row_id,
                    exc.waits_for,
                    unit.source,
                    unit.partition,
                    unit.offset,
                    unit.stored(),
                    str(exc),
                    unit.parked_at or now,
                    tuple(targets(unit)),
                )
            )
            return Outcome("parked", error=exc)
        report.quarantined += 1
        report.problems.append(f"{unit.label}: {exc}")
        report.set_aside.append((unit, exc))
        if unit.quarantine_id is not None:
            return Outcome("quarantined", error=exc)  # still failing: it stays as it was
        if unit.parked_id is not None:
            uow.rows.unparked.append(unit.parked_id)
        uow.rows.quarantine.append(
            QuarantineRow(
                unit.row_id,
                unit.source,
                unit.partition,
                unit.offset,
                unit.record_key,
                unit.stored(),
                exc.reason,
                str(exc),
                now,
            )
        )
        return Outcome("quarantined", error=exc)

    # -- parked units ------------------------------------------------------------

    def parked(self, waits_for: str | None = None) -> list[ParkedRow]:
        tables = self.app.tables
        rows = self.app.fetch(
            tables.q_parked(waits_for is not None), () if waits_for is None else (waits_for,)
        )
        return [
            ParkedRow(
                r[0],
                r[1],
                r[2],
                int(r[3]),
                int(r[4]),
                bytes(r[5]),
                r[6],
                datetime.fromisoformat(r[7]),
            )
            for r in rows
        ]

    def waits_for(self) -> set[str]:
        """Every entity some parked unit waits for."""
        return {str(row[0]) for row in self.app.fetch(self.app.tables.q_parked_waits())}

    def pending_changes(self) -> set[str]:
        """The entities with a change parked or staged: billing holds their
        items (`pending_source_change`) until it is applied or expires."""
        return set(self._parked_targets(set())) | set(self._staged_targets((), ()))

    def _releasable(self, batch: Sequence[Inbound]) -> list[Inbound]:
        """Parked units whose dependency exists now, in arrival order."""
        waits = self.waits_for()
        if not waits:
            return []
        existing = self._existing(waits)
        return self._waiting_on(sorted(existing), batch)

    def _existing(self, keys: Iterable[str]) -> set[str]:
        """Which of these entities (kind:business id) the index holds."""
        by_kind: dict[str, list[str]] = {}
        for key in keys:
            kind, _, business_id = key.partition(":")
            by_kind.setdefault(kind, []).append(business_id)
        found: set[str] = set()
        settled = by_kind.pop(TRANSACTION[:-1], [])
        if settled:
            recorded = self.dedup_lookup([f"cdc:tx:{tx}" for tx in settled])
            found.update(f"{TRANSACTION}{key[len('cdc:tx:') :]}" for key in recorded)
        found.update(f"{kind}:{business_id}" for kind, business_id in self.app.indexed(by_kind))
        return found

    def _waiting_on(self, keys: Sequence[str], units: Sequence[Inbound]) -> list[Inbound]:
        """The parked units waiting for these entities, not already among `units`."""
        if not keys:
            return []
        taken = {u.parked_id for u in units if u.parked_id}
        rows = [r for key in keys for r in self.parked(key) if r.id not in taken]
        if not rows:
            return []
        # in arrival order; within one partition, in offset order (commit order)
        rows.sort(key=lambda r: (r.parked_at, r.source, r.partition, r.offset))
        return self.reparse(list({r.id: r for r in rows}.values()))

    def _parked_targets(self, exclude: set[str | None]) -> dict[str, str]:
        """Entities with a change parked (not among `exclude`) -> what it waits for."""
        rows = self.app.fetch("SELECT id, waits_for, targets FROM psledger_parked")
        if not rows:
            return {}
        for row_id, _waits, named in rows:
            if named is not None:
                self._targets[str(row_id)] = str(named).split()
        unknown = {str(r[0]) for r in rows} - self._targets.keys()
        if unknown:
            parked = [row for row in self.parked() if row.id in unknown]
            for row, unit in zip(parked, self.reparse(parked), strict=True):
                self._targets[row.id] = targets(unit)
        return {
            target: str(waits_for)
            for row_id, waits_for, _named in rows
            if row_id not in exclude
            for target in self._targets.get(str(row_id), ())
        }

    def _staged_targets(
        self, units: Sequence[Inbound], staged: Sequence[StagedRow]
    ) -> dict[str, str]:
        """Entities with a change in a source transaction still staged (not one
        this batch settles) -> `transaction:<id>`: a later change of them waits."""
        settling = {k[len("cdc:tx:") :] for u in units for k in u.marker_keys}
        pieces = [
            (str(r[0]), int(r[1]), int(r[2]), str(r[3]))
            for r in self.app.fetch("SELECT source, part, position, tx_id FROM psledger_staged")
        ]
        pieces.extend((r.source, r.partition, r.offset, r.tx_id) for r in staged)
        pieces = [p for p in pieces if p[3] not in settling]
        if not pieces:
            return {}
        unknown = {p[3] for p in pieces if _piece_id(p) not in self._targets}
        raws = {(r.source, r.partition, r.offset): r.raw for r in staged}
        if unknown:
            chunk = sorted(unknown)
            for _tx, source, part, position, raw in self.app.fetch(
                self.app.tables.q_staged(len(chunk)), self.app.tables.values(chunk)
            ):
                raws.setdefault((str(source), int(part), int(position)), bytes(raw))
        blocked: dict[str, str] = {}
        for source, part, position, tx_id in pieces:
            piece = _piece_id((source, part, position, tx_id))
            if piece not in self._targets:
                raw = raws.get((source, part, position), b"")
                unit = self.read_stored(piece, source, part, position, raw, None)
                self._targets[piece] = targets(unit)
            blocked.update(dict.fromkeys(self._targets[piece], TRANSACTION + tx_id))
        return blocked

    # -- side tables -------------------------------------------------------------

    def _source_order(self, units: Sequence[Inbound]) -> dict[str, int]:
        """The newest source position applied to each entity these units change."""
        wanted = sorted({t for u in units for t in targets(u)})
        found: dict[str, int] = {}
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            tables = self.app.tables
            rows = self.app.fetch(tables.q_source_order(len(chunk)), tables.values(chunk))
            found.update((str(row[0]), int(row[1])) for row in rows)
        return found

    def dedup_lookup(self, keys: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            chunk = unique[start : start + 500]
            rows = self.app.fetch(
                self.app.tables.q_dedup(len(chunk)), self.app.tables.values(chunk)
            )
            found.update((row[0], row[1]) for row in rows)
        return found


def _piece_id(piece: tuple[str, int, int, str]) -> str:
    return f"staged:{piece[0]}:{piece[1]}:{piece[2]}"


def _settled_transactions(unit: Inbound) -> list[str]:
    """`transaction:<id>` of the source transaction a unit settles."""
    return [TRANSACTION + k[len("cdc:tx:") :] for k in unit.marker_keys]


def _preload(uow: UnitOfWork, units: Sequence[Inbound]) -> None:
    """Load the batch's work items at once, and learn which of their
    projects exist: the handlers then ask the store nothing per item."""
    items: list[tuple[type[LedgerAggregate], str]] = []
    parents: list[tuple[type[LedgerAggregate], str]] = []
    for unit in units:
        for cmd in unit.commands:
            if isinstance(cmd, c.SyncWorkItem) and cmd.kind in ITEM_KINDS:
                items.append((ITEM_KINDS[cmd.kind], cmd.item_id))
                parents.append((Project, str(cmd.fields.get("project_id"))))
    uow.preload(items, existing=parents)
