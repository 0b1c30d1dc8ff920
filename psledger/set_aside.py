"""What the inbox set aside: quarantined and parked records, for operators.

Replaying a quarantined record sends it through the inbox again; it leaves
quarantine only if it now applies (or turns out a duplicate). Parked
records are released by the inbox itself when what they wait for arrives;
those parked longer than the limit move to quarantine.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from domain.errors import InputError, TransitionRefused, UnknownEntity
from psledger.app import UnitOfWork
from psledger.inbound import InboundFactory
from psledger.inbox import Clock, Inbox, InboxReport
from psledger.store.rows import ParkedRow, QuarantineRow

# what a quarantined record's status can be; "discarded" is stored as
# "discarded by <who>" and the filter matches every discarder
STATUSES = ("open", "replayed", "duplicate", "superseded", "discarded")
DISCARDED_BY = "discarded by "
SHORT_ID = 10  # hex digits of a quarantined record's digest shown as its short id
MIN_PREFIX = 4


def short_id(row_id: str) -> str:
    """The id as operators see it: the first digits of the record's digest
    (the last part of `<source>:<partition>:<offset>:<digest>`)."""
    return row_id.rsplit(":", 1)[-1][:SHORT_ID]


def check_status(status: str) -> str:
    """A status filter: one of STATUSES, or "discarded by <who>"."""
    if status in STATUSES or (status.startswith(DISCARDED_BY) and status[len(DISCARDED_BY) :]):
        return status
    raise InputError(
        f"quarantine status {status!r} is not one of {', '.join(STATUSES)} (or 'discarded by WHO')"
    )


def _row(v: tuple[Any, ...]) -> QuarantineRow:
    return QuarantineRow(
        str(v[0]),
        str(v[1]),
        int(v[2]),
        int(v[3]),
        None if v[4] is None else str(v[4]),
        bytes(v[5]),
        str(v[6]),
        str(v[7]),
        datetime.fromisoformat(str(v[8])),
        str(v[9]),
    )


class Quarantine:
    """List, show, replay and discard quarantined records."""

    def __init__(self, inbox: Inbox, inbound: InboundFactory) -> None:
        self.inbox = inbox
        self.inbound = inbound
        self.app = inbox.app

    def list(self, status: str = "open") -> list[QuarantineRow]:
        """Records with this status; "discarded" matches whoever discarded them."""
        check_status(status)
        if status != "discarded":
            return [_row(r) for r in self.app.fetch(self.app.tables.q_quarantine(False), (status,))]
        sql = self.app.tables.q_quarantine(False).replace("WHERE status =", "WHERE status LIKE")
        found = self.app.fetch(sql, (DISCARDED_BY + "%",))
        return [row for row in map(_row, found) if row.status.startswith(DISCARDED_BY)]

    def show(self, row_id: str) -> QuarantineRow:
        """A record by its id or a unique prefix of its id or short id."""
        rows = self.app.fetch(self.app.tables.q_quarantine(True), (self.resolve(row_id),))
        return _row(rows[0])

    def resolve(self, given: str) -> str:
        """The full id of a record named by its id, or by a unique prefix
        (of at least MIN_PREFIX characters) of its id or its short id."""
        if self.app.fetch(self.app.tables.q_quarantine(True), (given,)):
            return given
        matches: list[str] = []
        if len(given) >= MIN_PREFIX:
            ids = self.app.fetch("SELECT id FROM psledger_quarantine")
            matches = sorted(
                str(r[0])
                for r in ids
                if str(r[0]).startswith(given) or str(r[0]).rsplit(":", 1)[-1].startswith(given)
            )
        if not matches:
            raise UnknownEntity(f"no quarantined record {given!r}")
        if len(matches) > 1:
            shown = ", ".join(short_id(m) for m in matches[:5])
            more = f" and {len(matches) - 5} more" if len(matches) > 5 else ""
            raise InputError(
                f"quarantine id {given!r} is ambiguous: it matches {shown}{more}; give more of it"
            )
        return matches[0]

    def replay(self, row_id: str) -> InboxReport:
        """Apply the record again; it leaves quarantine only if it now applies."""
        row = self._open(row_id)
        unit = self.inbound.from_stored(
            row.id, row.source, row.partition, row.offset, row.raw, row.record_key
        )
        unit.quarantine_id = row.id
        return self.inbox.apply([unit])

    def discard(self, row_id: str, by: str) -> None:
        row = self._open(row_id)
        uow = UnitOfWork(self.app)
        uow.rows.quarantine_status.append((row.id, f"discarded by {by}"))
        uow.commit()

    def _open(self, row_id: str) -> QuarantineRow:
        row = self.show(row_id)
        if row.status != "open":
            raise TransitionRefused(f"quarantined record {row_id}", row.status, "act on it")
        return row


class Parking:
    """Parked records: listed, and aged into quarantine."""

    def __init__(self, inbox: Inbox, clock: Clock, max_age: timedelta) -> None:
        self.inbox = inbox
        self.clock = clock
        self.max_age = max_age

    def list(self, waits_for: str | None = None) -> list[ParkedRow]:
        return self.inbox.parked(waits_for)

    def expire(self) -> InboxReport:
        """Parked records older than the limit move to quarantine."""
        now = self.clock()
        old = [row for row in self.inbox.parked() if now - row.parked_at > self.max_age]
        report = InboxReport()
        if not old:
            return report
        uow = UnitOfWork(self.inbox.app)
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
