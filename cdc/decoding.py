"""One decoder for every record: JSON envelopes, or Avro in the Confluent
wire format (magic byte 0) when a schema registry is configured."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cdc.avro import AvroDecoder
from cdc.envelope import decode_json
from cdc.errors import DecodeError
from cdc.records import Decoded, RawRecord
from cdc.values import ColumnTypes


def make_decoder(
    column_types: ColumnTypes, registry: Any | None = None
) -> Callable[[RawRecord], Decoded]:
    avro = AvroDecoder(registry, column_types=column_types) if registry is not None else None

    def decode(raw: RawRecord) -> Decoded:
        head = raw.value if raw.value is not None else raw.key
        if head is not None and head[:1] == b"\x00":
            if avro is None:
                raise DecodeError(
                    "bad_magic_byte",
                    f"{raw.topic}[{raw.partition}@{raw.offset}]: Avro wire format but no "
                    "schema registry is configured",
                )
            return avro.decode(raw)
        return decode_json(raw, column_types=column_types)

    return decode
