"""The ``kcat -C -J`` JSONL file format (see CDC_FILES.md): read and write lines."""

from __future__ import annotations

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
            key=_bytes(doc.get("key")),
            value=_bytes(doc.get("payload")),
            headers=_headers(doc.get("headers")),
            timestamp_ms=_timestamp(doc),
        )
    except (TypeError, ValueError) as exc:
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
        doc["headers"] = [part for name, value in raw.headers for part in (name, _text(value))]
    doc["key"] = None if raw.key is None else _text(raw.key)
    doc["payload"] = None if raw.value is None else _text(raw.value)
    return orjson.dumps(doc) + b"\n"


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("non_utf8", "kcat JSON lines carry UTF-8 text only") from exc


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"topic must be a string, got {value!r}")
    return value


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected an integer, got {value!r}")
    return value


def _bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"key/payload must be a string or null, got {type(value).__name__}")
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
