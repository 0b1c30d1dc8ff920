"""One decoder for every record: JSON envelopes, or Avro in the Confluent
wire format (magic byte 0) when a schema registry is configured.

A value (or key) that starts with a control byte is not JSON: it is taken as
a wire-format frame, so a wrong magic byte is reported as such rather than
as malformed JSON.
"""

from __future__ import annotations

from typing import Any

from cdc.avro import MAGIC, AvroDecoder
from cdc.connect_json import SchemaMemo
from cdc.envelope import decode_json, where
from cdc.errors import DecodeError
from cdc.records import Decoded, RawRecord
from cdc.values import ColumnTypes

_JSON_WHITESPACE = frozenset(b" \t\r\n")


def _framed(data: bytes | None) -> bool:
    """True when ``data`` looks like a binary frame rather than JSON text."""
    if not data:
        return False
    first = data[0]
    return first < 0x20 and first not in _JSON_WHITESPACE


class RecordDecoder:
    """Decodes JSON envelopes, and Confluent-framed Avro when ``registry`` is set."""

    def __init__(self, column_types: ColumnTypes, registry: Any | None = None) -> None:
        self.column_types = column_types
        self.registry = registry
        self.avro = AvroDecoder(registry, column_types=column_types) if registry else None
        self.memo = SchemaMemo()

    def __call__(self, raw: RawRecord) -> Decoded:
        head = raw.value if raw.value is not None else raw.key
        if _framed(head):
            if self.avro is None:
                assert head is not None
                detail = (
                    "Avro wire format but no schema registry is configured"
                    if head[0] == MAGIC
                    else f"binary record with magic byte {head[0]}, not JSON"
                )
                raise DecodeError("bad_magic_byte", f"{where(raw)}: {detail}")
            return self.avro.decode(raw)
        return decode_json(raw, column_types=self.column_types, memo=self.memo)


def make_decoder(column_types: ColumnTypes, registry: Any | None = None) -> RecordDecoder:
    return RecordDecoder(column_types, registry)
