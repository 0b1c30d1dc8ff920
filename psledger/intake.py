"""Intake: apply a batch of inbound units in one transaction.

Each unit (one CDC record, a whole source transaction, or a replayed
webhook) carries its commands, its dedup keys and its raw bytes. In one
transaction the batch appends the events of every unit that applies, the
dedup keys of those units, the quarantine rows of units that failed, the
parked rows of units that wait for another entity, and the source
positions. A failing unit never leaves half its events behind: the batch is
decided again without it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from eventsourcing.persistence import IntegrityError

from domain import commands as c
from domain.errors import InfrastructureError, LedgerError, MissingDependency
from domain.handlers import ITEM_KINDS, handle
from psledger.app import MAX_ATTEMPTS, LedgerApplication, UnitOfWork
from psledger.ledger import Ledger, event_ids
from psledger.store.rows import DedupRow, ParkedRow, PositionRow, QuarantineRow


@dataclass
class Inbound:
    """One unit to apply, with what identifies it and what keeps it."""

    label: str
    source: str
    partition: int
    offset: int
    raw: bytes
    commands: list[c.Command] = field(default_factory=list)
    dedup_keys: list[str] = field(default_factory=list)
    marker_keys: list[str] = field(default_factory=list)  # recorded however it settles
    record_key: str | None = None
    error: LedgerError | None = None  # decided before apply: quarantine it
    parked_id: str | None = None  # set when retrying a parked unit
    quarantine_id: str | None = None  # set when replaying a quarantined unit

    @property
    def answers_with_event_ids(self) -> bool:
        """A webhook delivery: a redelivery is answered with its event ids."""
        return self.source.startswith("webhook:")

    @property
    def row_id(self) -> str:
        digest = hashlib.sha256(self.raw).hexdigest()[:16]
        return f"{self.source}:{self.partition}:{self.offset}:{digest}"


@dataclass
class IntakeReport:
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    quarantined: int = 0
    released: int = 0
    events: int = 0
    problems: list[str] = field(default_factory=list)
    set_aside: list[tuple[Inbound, LedgerError]] = field(default_factory=list)

    def add(self, other: IntakeReport) -> None:
        for name in ("applied", "duplicates", "parked", "quarantined", "released", "events"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.problems.extend(other.problems)
        self.set_aside.extend(other.set_aside)


Reparser = Callable[[list[ParkedRow]], list[Inbound]]


def targets(unit: Inbound) -> list[str]:
    """The entities (kind:business id) a unit's commands change."""
    found: list[str] = []
    for cmd in unit.commands:
        if isinstance(cmd, c.SyncWorkItem | c.WithdrawWorkItem):
            found.append(f"{cmd.kind}:{cmd.item_id}")
        elif isinstance(cmd, c.SyncProject):
            found.append(f"project:{cmd.project_id}")
        elif isinstance(cmd, c.SyncAssignment):
            found.append(f"assignment:{cmd.assignment_id}")
        elif isinstance(cmd, c.SyncRateLine):
            found.append(f"rate_line:{cmd.rate_card_id}:{cmd.line.line_id}")
        elif isinstance(cmd, c.RemoveRateLine):
            found.append(f"rate_line:{cmd.rate_card_id}:{cmd.line_id}")
        elif isinstance(cmd, c.SyncRateCard):
            found.append(f"rate_card:{cmd.rate_card_id}")
    return found


class Intake:
    """Applies inbound batches; releases parked units when their entity arrives."""

    def __init__(self, ledger: Ledger, park_max_age: timedelta) -> None:
        self.ledger = ledger
        self.app: LedgerApplication = ledger.app
        self.park_max_age = park_max_age
        self.reparse: Reparser | None = None  # set by bootstrap: parked rows -> units
        self._targets: dict[str, list[str]] = {}  # parked row id -> entities it changes

    def apply(
        self, batch: Sequence[Inbound], positions: Sequence[PositionRow] = ()
    ) -> IntakeReport:
        """Apply a batch in one transaction. Another writer appending to the
        same aggregates first (an optimistic concurrency conflict) makes the
        batch be decided again on the new state, never lost."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                report, new_entities = self._apply_once(batch, positions)
                break
            except IntegrityError as exc:
                if attempt == MAX_ATTEMPTS:
                    raise InfrastructureError(
                        f"gave up on a batch after {attempt} concurrent-write conflicts: {exc}"
                    ) from exc
        else:  # pragma: no cover - the loop always breaks or raises
            raise AssertionError("unreachable")
        if new_entities:
            report.add(self.release(new_entities))
        return report

    def _apply_once(
        self, batch: Sequence[Inbound], positions: Sequence[PositionRow]
    ) -> tuple[IntakeReport, list[str]]:
        seen = self.ledger.dedup_lookup(
            [k for unit in batch for k in (*unit.dedup_keys, *unit.marker_keys)]
        )
        failures: dict[int, LedgerError] = {
            i: unit.error for i, unit in enumerate(batch) if unit.error is not None
        }
        waiting = self._parked_targets({u.parked_id for u in batch if u.parked_id})
        for _attempt in range(len(batch) + 5):
            uow = UnitOfWork(self.app)
            uow.preload(
                (ITEM_KINDS[cmd.kind], cmd.item_id)
                for unit in batch
                for cmd in unit.commands
                if isinstance(cmd, c.SyncWorkItem) and cmd.kind in ITEM_KINDS
            )
            report = IntakeReport()
            in_batch: set[str] = set()
            # entity -> what an earlier parked change of it waits for
            blocked: dict[str, str] = dict(waiting)
            failed_at = None
            for i, unit in enumerate(batch):
                if i in failures:
                    error = failures[i]
                    if isinstance(error, MissingDependency):
                        blocked.update(dict.fromkeys(targets(unit), error.waits_for))
                    continue
                keys = unit.dedup_keys
                if keys and all(k in seen or k in in_batch for k in keys):
                    report.duplicates += 1
                    self._settle(uow, unit, "duplicate")
                    continue
                mine = targets(unit)
                behind = next((t for t in mine if t in blocked and blocked[t] not in mine), None)
                if behind is not None:
                    # a later change of an entity whose earlier change is parked
                    # waits behind it: applied first, it would be undone on release
                    failures[i] = MissingDependency(
                        f"{unit.label} waits behind an earlier parked change of {behind}",
                        waits_for=blocked[behind],
                    )
                    blocked.update(dict.fromkeys(mine, blocked[behind]))
                    continue
                before = set(event_ids(uow)) if unit.answers_with_event_ids else set()
                try:
                    for command in unit.commands:
                        handle(command, uow)
                except LedgerError as exc:
                    failures[i] = exc
                    failed_at = i
                    break
                fresh = [k for k in keys if k not in seen and k not in in_batch]
                in_batch.update(fresh)
                now = self.ledger.clock()
                answer = "{}"
                if unit.answers_with_event_ids:  # a webhook's redelivery gets this answer
                    ids = [e for e in event_ids(uow) if e not in before]
                    answer = orjson.dumps({"event_ids": ids}).decode()
                uow.rows.dedup.extend(DedupRow(k, answer, now) for k in fresh)
                self._settle(uow, unit, "replayed")
                report.applied += 1
            if failed_at is not None:
                continue  # decide the batch again without the failed unit
            for i, error in failures.items():
                self._set_aside(uow, batch[i], error, report)
            now = self.ledger.clock()
            for unit in batch:
                for k in unit.marker_keys:
                    if k not in seen and k not in in_batch:
                        in_batch.add(k)
                        uow.rows.dedup.append(DedupRow(k, "{}", now))
            uow.rows.positions.extend(positions)
            report.events = uow.pending_count()
            uow.commit()
            return report, [f"{r.kind}:{r.business_id}" for r in uow.rows.entities]
        raise AssertionError("intake did not converge")

    def _parked_targets(self, exclude: set[str]) -> dict[str, str]:
        """Entities with a change parked (not among ``exclude``) -> what it waits for."""
        rows = self.app.fetch("SELECT id, waits_for FROM psledger_parked")
        if not rows:
            return {}
        unknown = {str(r[0]) for r in rows} - self._targets.keys()
        if unknown and self.reparse is not None:
            parked = [row for row in self.parked() if row.id in unknown]
            for row, unit in zip(parked, self.reparse(parked), strict=True):
                self._targets[row.id] = targets(unit)
        return {
            target: str(waits_for)
            for row_id, waits_for in rows
            if row_id not in exclude
            for target in self._targets.get(str(row_id), ())
        }

    def _settle(self, uow: UnitOfWork, unit: Inbound, status: str) -> None:
        """A parked or quarantined unit that now applies leaves its table."""
        if unit.parked_id is not None:
            uow.rows.unparked.append(unit.parked_id)
        if unit.quarantine_id is not None:
            uow.rows.quarantine_status.append((unit.quarantine_id, status))

    def _set_aside(
        self, uow: UnitOfWork, unit: Inbound, exc: LedgerError, report: IntakeReport
    ) -> None:
        now = self.ledger.clock()
        if isinstance(exc, MissingDependency) and unit.quarantine_id is None:
            report.parked += 1
            if unit.parked_id is None:
                uow.rows.parked.append(
                    ParkedRow(
                        unit.row_id,
                        exc.waits_for,
                        unit.source,
                        unit.partition,
                        unit.offset,
                        unit.raw,
                        str(exc),
                        now,
                    )
                )
            return
        report.quarantined += 1
        report.problems.append(f"{unit.label}: {exc}")
        report.set_aside.append((unit, exc))
        if unit.quarantine_id is not None:
            return  # still failing: it stays in quarantine as it was
        if unit.parked_id is not None:
            uow.rows.unparked.append(unit.parked_id)
        uow.rows.quarantine.append(
            QuarantineRow(
                unit.row_id,
                unit.source,
                unit.partition,
                unit.offset,
                unit.record_key,
                unit.raw,
                exc.reason,
                str(exc),
                now,
            )
        )

    # -- parking ---------------------------------------------------------------

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

    def release(self, entity_keys: Sequence[str]) -> IntakeReport:
        """Retry the parked units waiting for these entities (and so on)."""
        total = IntakeReport()
        pending = list(dict.fromkeys(entity_keys))
        while pending and self.reparse is not None:
            waiting = {row[0] for row in self.app.fetch(self.app.tables.q_parked_waits())}
            rows = [row for key in pending if key in waiting for row in self.parked(key)]
            if not rows:
                break
            # in arrival order; within one partition, in offset order (commit order)
            rows.sort(key=lambda r: (r.parked_at, r.source, r.partition, r.offset))
            report, new_entities = self._apply_once(self.reparse(rows), ())
            report.released = report.applied
            total.add(report)
            pending = new_entities
        return total

    def expire_parked(self) -> IntakeReport:
        """Parked units older than the limit move to quarantine."""
        now = self.ledger.clock()
        old = [row for row in self.parked() if now - row.parked_at > self.park_max_age]
        report = IntakeReport()
        if not old:
            return report
        uow = UnitOfWork(self.app)
        for row in old:
            uow.rows.unparked.append(row.id)
            uow.rows.quarantine.append(
                QuarantineRow(
                    row.id,
                    row.source,
                    row.partition,
                    row.offset,
                    None,
                    row.raw,
                    "parked_too_long",
                    f"parked since {row.parked_at.isoformat()}: {row.reason}",
                    now,
                )
            )
            report.quarantined += 1
        uow.commit()
        return report
