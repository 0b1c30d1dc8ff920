"""Dedup keys: the one place that says when two inbound records are the same.

A key is recorded in the transaction that applies its record; the same key
again is a duplicate and appends nothing.

    cdc:<schema.table>:<key>:<op>:<lsn>:<txId>   a streamed change
    cdc:<schema.table>:<key>:r:<row hash>        a snapshot read (a re-snapshot
                                                 of an unchanged row is the same read)
    cdc:tx:<txId>                                a settled source transaction
    webhook:<source>:<delivery id>               a webhook delivery; its first
                                                 answer keeps the body's hash, so the
                                                 same id with another body is refused
"""

from __future__ import annotations

import hashlib

import orjson

from cdc.records import ChangeEvent


def change_key(event: ChangeEvent) -> str:
    """Source identity of a change: table, key, op, LSN and transaction id;
    snapshot reads use a hash of the row instead."""
    key = orjson.dumps(event.key, default=str, option=orjson.OPT_SORT_KEYS).decode()
    table = f"{event.schema}.{event.table}"
    if event.is_snapshot or event.op == "r":
        row = orjson.dumps(event.after, default=str, option=orjson.OPT_SORT_KEYS)
        return f"cdc:{table}:{key}:r:{hashlib.sha256(row).hexdigest()[:32]}"
    if event.lsn is None:
        return f"cdc:{table}:{key}:{event.op}:{event.raw.topic}:{event.raw.offset}"
    return f"cdc:{table}:{key}:{event.op}:{event.lsn}:{event.tx_id}"


def transaction_key(tx_id: str) -> str:
    """Recorded once a source transaction is settled (applied, parked or
    quarantined): its END marker, delivered again, is then let go."""
    return f"cdc:tx:{tx_id}"


def webhook_key(source_system: str, delivery_id: str) -> str:
    return f"webhook:{source_system}:{delivery_id}"


def body_hash(raw: bytes) -> str:
    """A webhook body's identity: its JSON with sorted keys (a sender that
    re-serialises the same body is not refused), else its bytes."""
    try:
        canonical = orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = raw
    return hashlib.sha256(canonical).hexdigest()
