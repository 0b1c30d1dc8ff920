"""The ``kcat -C -J`` JSONL file format (see CDC_FILES.md): read and write lines.

kcat writes keys and payloads as text. Binary ones (Avro in the Confluent wire
format, or bytes that are not UTF-8) are written base64-encoded with
``"key_encoding": "base64"`` / ``"payload_encoding": "base64"`` beside them, so
that quarantined and parked records keep their exact bytes.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from cdc.errors import DecodeError
from cdc.records import RawRecord


def parse_kcat_line(line: bytes, *, source: str, line_no: int) -> RawRecord:
    """Parse one kcat JSON line; a bad line raises DecodeError naming file and line."""
    at = f"{source}:{line_no}"
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            raise DecodeError("non_utf8", f"{at}: line is not UTF-8") from exc
        raise DecodeError("malformed_json", f"{at}: line is not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise DecodeError("malformed_json", f"{at}: line is not a JSON object")
    for name in ("topic", "partition", "offset"):
        if name not in doc:
            raise DecodeError("missing_field", f"{at}: line has no {name!r}")
    try:
        return RawRecord(
            topic=_str(doc["topic"]),
            partition=_int(doc["partition"]),
            offset=_int(doc["offset"]),
            key=_bytes(doc.get("key"), doc.get("key_encoding")),
            value=_bytes(doc.get("payload"), doc.get("payload_encoding")),
            headers=_headers(doc.get("headers")),
            timestamp_ms=_timestamp(doc),
        )
    except (TypeError, ValueError, binascii.Error) as exc:
        raise DecodeError("malformed_json", f"{at}: {exc}") from exc


def to_kcat_line(raw: RawRecord) -> bytes:
    """One kcat-format JSON line (with trailing newline) for ``raw``; key/value must be UTF-8."""
    doc: dict[str, Any] = {
        "topic": raw.topic,
        "partition": raw.partition,
        "offset": raw.offset,
        "tstype": "none" if raw.timestamp_ms is None else "create",
        "ts": -1 if raw.timestamp_ms is None else raw.timestamp_ms,
        "broker": -1,
    }
    if raw.headers:
        doc["headers"] = [
            part for name, value in raw.headers for part in (name, value.decode("utf-8", "replace"))
        ]
    for name, data in (("key", raw.key), ("payload", raw.value)):
        text, binary = _text(data)
        doc[name] = text
        if binary:
            doc[f"{name}_encoding"] = "base64"
    return orjson.dumps(doc) + b"\n"


def _text(data: bytes | None) -> tuple[str | None, bool]:
    """The text of ``data``, or its base64 when it is binary (and True)."""
    if data is None:
        return None, False
    if not data[:1] or data[0] >= 0x20 or data[:1] in (b"\t", b"\n", b"\r"):
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii"), True


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"topic must be a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _bytes(value: Any, encoding: Any = None) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"key/payload must be a string or null, got {type(value).__name__}")
    if encoding == "base64":
        return base64.b64decode(value, validate=True)
    if encoding is not None:
        raise ValueError(f"unknown key/payload encoding {encoding!r}")
    return value.encode("utf-8")


def _headers(value: Any) -> tuple[tuple[str, bytes], ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) % 2:
        raise TypeError("headers must be a flat [name, value, ...] list")
    pairs = zip(value[::2], value[1::2], strict=True)
    return tuple((str(n), b"" if v is None else str(v).encode("utf-8")) for n, v in pairs)


def _timestamp(doc: dict[str, Any]) -> int | None:
    ts = doc.get("ts")
    if ts is None or doc.get("tstype") == "none" or ts == -1:
        return None
    return _int(ts)
