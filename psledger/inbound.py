"""Where changes enter: every adapter builds the same `Inbound` unit here.

- `from_cdc`: a CDC unit (one change or a whole source transaction) from a
  file, Kafka or the Debezium engine, mapped to its commands;
- `from_bad` / `from_undecodable`: input that could not become a change,
  kept with its bytes so that it is quarantined, not lost;
- `from_webhook`: a CRM, HR or ERP delivery, from HTTP or the CLI;
- `from_stored`: a quarantined or parked record, read back from its bytes.

What a unit does is decided in one place, `psledger.inbox.Inbox.apply`.
"""

from __future__ import annotations

from collections.abc import Callable

from cdc.errors import DecodeError
from cdc.kcat import parse_kcat_line, to_kcat_line
from cdc.mapping import SourceMapping
from cdc.records import ChangeEvent, Decoded, RawRecord, SourcePosition
from cdc.sources import BadRecord
from cdc.units import Unit, transaction_key
from cdc.webhooks import parse_webhook
from domain.errors import InputError, LedgerError
from psledger import dedup_keys
from psledger.inbox import Inbound

Decoder = Callable[[RawRecord], Decoded]

WEBHOOK_PREFIX = "webhook:"


class InboundFactory:
    """Builds inbound units from every kind of source record."""

    def __init__(self, mapping: SourceMapping, decoder: Decoder) -> None:
        self.mapping = mapping
        self.decode = decoder

    # -- CDC -------------------------------------------------------------------

    def from_cdc(self, unit: Unit, staged: list[tuple[str, int, int]] | None = None) -> Inbound:
        first = unit.records[0].raw
        label = f"{first.topic}[{first.partition}@{first.offset}]"
        if unit.tx_id is not None:
            label += f" tx {unit.tx_id} ({len(unit.records)} changes)"
        inbound = Inbound(
            label,
            first.topic,
            first.partition,
            first.offset,
            b"",  # made from `records` only if the unit is set aside
            record_key=first.key.decode("utf-8", "replace") if first.key else None,
            dedup_keys=[dedup_keys.change_key(event) for event in unit.records],
            staged=list(staged or ()),
            records=tuple(unit.raws),
        )
        if unit.tx_id is not None and unit.complete:
            inbound.marker_keys.append(dedup_keys.transaction_key(unit.tx_id))
        try:
            for event in unit.records:
                inbound.commands.extend(self.mapping.commands(event))
        except LedgerError as exc:
            inbound.error = exc
        return inbound

    @staticmethod
    def from_bad(item: BadRecord) -> Inbound:
        pos = item.position
        return Inbound(
            f"{pos.source}[{pos.partition}@{pos.offset}]",
            pos.source,
            pos.partition,
            pos.offset,
            item.raw,
            error=InputError(item.detail, reason=item.reason),
        )

    @staticmethod
    def from_undecodable(raw: RawRecord, error: LedgerError) -> Inbound:
        return Inbound(
            f"{raw.topic}[{raw.partition}@{raw.offset}]",
            raw.topic,
            raw.partition,
            raw.offset,
            to_kcat_line(raw),
            error=error,
            record_key=raw.key.decode("utf-8", "replace") if raw.key else None,
        )

    def events_of(self, raw: bytes, source: str, first_line: int = 1) -> list[ChangeEvent]:
        """The change events in stored kcat lines (errors name the record's
        position at its source, counted from `first_line`)."""
        records: list[ChangeEvent] = []
        for n, line in enumerate(raw.splitlines(), start=first_line):
            if not line.strip():
                continue
            decoded = self.decode(parse_kcat_line(line, source=source, line_no=n))
            if isinstance(decoded, ChangeEvent):
                records.append(decoded)
        return records

    # -- webhooks ----------------------------------------------------------------

    def from_webhook(
        self,
        body: bytes,
        *,
        expected_source: str | None = None,
        delivery_id: str | None = None,
        signature_key_id: str | None = None,
    ) -> Inbound:
        """A delivery; a body that fails validation is a unit carrying its error."""
        source = WEBHOOK_PREFIX + (expected_source or "")
        unit = Inbound(
            f"{source} {delivery_id or ''}".strip(),
            source,
            0,
            0,
            body,
            record_key=delivery_id,
            content_hash=dedup_keys.body_hash(body),
        )
        try:
            envelope, command = parse_webhook(
                body,
                expected_source=expected_source,
                delivery_id=delivery_id,
                signature_key_id=signature_key_id,
            )
        except LedgerError as exc:
            unit.error = exc
            return unit
        provenance = command.provenance
        unit.source = WEBHOOK_PREFIX + provenance.source_system
        unit.record_key = provenance.delivery_id or envelope.id
        unit.label = f"{unit.source} {unit.record_key}"
        unit.commands = [command]
        unit.dedup_keys = [
            dedup_keys.webhook_key(provenance.source_system, str(provenance.delivery_id))
        ]
        return unit

    # -- stored records ----------------------------------------------------------

    def from_stored(
        self,
        row_id: str,
        source: str,
        partition: int,
        offset: int,
        raw: bytes,
        record_key: str | None,
    ) -> Inbound:
        """A quarantined or parked record read back from its bytes."""
        if source.startswith(WEBHOOK_PREFIX):
            return self.from_webhook(
                raw, expected_source=source[len(WEBHOOK_PREFIX) :] or None, delivery_id=record_key
            )
        try:
            records = self.events_of(raw, source, first_line=offset or 1)
            if not records:
                raise InputError(f"{source}: no change events in the stored record", reason="empty")
        except (DecodeError, LedgerError, ValueError) as exc:
            reason = getattr(exc, "reason", "invalid_input")
            return Inbound(
                row_id, source, partition, offset, raw, error=InputError(str(exc), reason=reason)
            )
        tx_ids = {transaction_key(e.transaction.id) for e in records if e.transaction}
        tx_id = next(iter(tx_ids)) if len(tx_ids) == 1 else None
        return self.from_cdc(Unit(records, tx_id))


def stored_raws(unit: Inbound) -> list[RawRecord | BadRecord]:
    """The records a unit holds (for the dead-letter topic)."""
    if unit.records:
        return list(unit.records)
    try:
        return [
            parse_kcat_line(line, source=unit.source, line_no=n)
            for n, line in enumerate(unit.stored().splitlines(), start=1)
            if line.strip()
        ]
    except DecodeError:
        return [
            BadRecord(
                SourcePosition(unit.source, unit.partition, unit.offset),
                unit.stored(),
                "unreadable",
                unit.label,
            )
        ]
