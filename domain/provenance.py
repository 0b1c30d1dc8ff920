"""Where a domain event came from: the source record and who acted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from domain.errors import InputError

SOURCE_SYSTEMS = frozenset({"psa", "crm", "hr", "erp", "ledger"})


@dataclass(frozen=True, slots=True)
class Provenance:
    """Identity of the source record behind an event.

    CDC records fill table, key, lsn, tx_id and commit_time (and topic,
    partition and offset when consumed from Kafka); webhooks fill
    delivery_id (and signature_key_id when signed) and occurred_at; the
    ledger's own commands (billing runs, CLI approvals) use source_system
    "ledger" and a run id.

    `business_time` is when the change happened at its source (the commit
    time of a CDC change, a webhook's occurred_at); the ledger's own events
    have none, and the time the ledger recorded them stands in.
    """

    source_system: str
    record_id: str
    actor: str | None = None
    correlation_id: str | None = None
    connector: str | None = None
    table: str | None = None
    key: str | None = None
    lsn: int | None = None
    tx_id: str | None = None
    commit_time: datetime | None = None
    delivery_id: str | None = None
    signature_key_id: str | None = None
    rule_version: str | None = None
    occurred_at: datetime | None = None
    # Where a record was consumed from, when the adapter knows it (Kafka).
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None

    def __post_init__(self) -> None:
        if self.source_system not in SOURCE_SYSTEMS:
            raise InputError(f"unknown source system {self.source_system!r}")
        if not self.record_id:
            raise InputError("provenance needs the source record's identity")
        if self.commit_time is not None and self.commit_time.tzinfo is None:
            raise InputError("provenance commit_time must be timezone-aware")
        if self.occurred_at is not None and self.occurred_at.tzinfo is None:
            raise InputError("provenance occurred_at must be timezone-aware")

    @property
    def business_time(self) -> datetime | None:
        """When the change happened at its source, if the source said."""
        return self.commit_time or self.occurred_at

    def with_rule_version(self, rule_version: str) -> Provenance:
        return replace(self, rule_version=rule_version)

    def to_dict(self) -> dict[str, Any]:
        """The set fields (instants as ISO 8601); on the hot path of every append."""
        data = {
            name: value for name in self.__slots__ if (value := getattr(self, name)) is not None
        }
        if self.commit_time is not None:
            data["commit_time"] = self.commit_time.isoformat()
        if self.occurred_at is not None:
            data["occurred_at"] = self.occurred_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Provenance:
        """`to_dict` read back, checked as the constructor checks it; on the
        hot path of every replay, so the slots are filled directly."""
        if not _FIELDS.issuperset(data) or "source_system" not in data or "record_id" not in data:
            unknown = sorted(data.keys() - _FIELDS)
            missing = sorted(_REQUIRED - data.keys())
            raise TypeError(f"provenance fields: unknown {unknown}, missing {missing}")
        provenance = object.__new__(cls)
        _fill_slots(provenance, data.get)
        for name, fill in _FILL_INSTANTS:
            if type(value := data.get(name)) is str:
                fill(provenance, datetime.fromisoformat(value))
        provenance.__post_init__()
        return provenance

    def describe(self) -> str:
        """One line for history and invoice lines: the source record."""
        if self.table is not None:
            parts = [f"{self.source_system}:{self.table}[{self.key}]"]
            if self.lsn is not None:
                parts.append(f"lsn={self.lsn}")
            if self.tx_id is not None:
                parts.append(f"tx={self.tx_id}")
            if self.topic is not None:
                parts.append(f"{self.topic}[{self.partition}@{self.offset}]")
            return " ".join(parts)
        if self.delivery_id is not None:
            return f"{self.source_system}:webhook {self.delivery_id}"
        return f"{self.source_system}:{self.record_id}"


_FIELDS = frozenset(Provenance.__slots__)
_REQUIRED = frozenset({"source_system", "record_id"})
# each slot's own setter: a frozen dataclass refuses `setattr`
_FILL = [(name, getattr(Provenance, name).__set__) for name in Provenance.__slots__]
_FILL_INSTANTS = [(name, fill) for name, fill in _FILL if name in ("commit_time", "occurred_at")]


def _slot_filler() -> Callable[[Provenance, Callable[[str], Any]], None]:
    """`fill(provenance, get)`: every slot set to `get(name)`, one setter call
    per line (unrolled, as dataclasses writes `__init__`: half the time of a
    loop over `_FILL`, on the hot path of every event read)."""
    lines = [f"    set_{name}(provenance, get({name!r}))" for name, _ in _FILL]
    source = "def fill(provenance, get):\n" + "\n".join(lines)
    namespace: dict[str, Any] = {f"set_{name}": setter for name, setter in _FILL}
    exec(source, namespace)  # generated from the slots' names alone
    return namespace["fill"]  # type: ignore[no-any-return]


_fill_slots = _slot_filler()
