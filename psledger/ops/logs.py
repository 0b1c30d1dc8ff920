"""Structured logs: one line per event, as JSON or for a human.

`configure("json" | "console")` installs one handler on the ``psledger``
logger (stderr). Every line carries the event name and its fields; a line
about a source record carries ``correlation_id`` (its source position, or
its webhook id). `event(logger, name, **fields)` writes such a line.

No secret reaches a log line: every message and field passes through
`scrub`, which masks URL passwords, bearer tokens, Standard Webhooks
secrets (``whsec_...``), API tokens (``psl_...``) and the values of fields
named like secrets.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

from domain.errors import InputError

FORMATS = ("console", "json")
ENV = "PSLEDGER_LOG_FORMAT"
MASK = "***"
_HANDLER_NAME = "psledger-ops"

_SECRET_FIELD = re.compile(r"(secret|token|password|passwd|authorization|signature)", re.I)
_PATTERNS = (
    (re.compile(r"(?P<keep>[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]*(?=@)", re.I), r"\g<keep>" + MASK),
    (re.compile(r"(?P<keep>bearer\s+)[^\s,;\"']+", re.I), r"\g<keep>" + MASK),
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_" + MASK),
    (re.compile(r"psl_[A-Za-z0-9_-]+"), "psl_" + MASK),
    (re.compile(r"(?P<keep>(?:password|token|secret)=)[^\s&]+", re.I), r"\g<keep>" + MASK),
)


def scrub(text: str) -> str:
    """The text with every secret it may hold masked."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _clean(key: str, value: Any) -> Any:
    if _SECRET_FIELD.search(key) and value is not None:
        return MASK
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return scrub(str(value))


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one event with its fields (``correlation_id`` for a source record)."""
    if logger.isEnabledFor(level):
        logger.log(level, name, extra={"fields": fields})


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found = getattr(record, "fields", None)
    return {k: _clean(k, v) for k, v in (found or {}).items()}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, event, then the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": scrub(record.getMessage()),
            **_fields(record),
        }
        if record.exc_info:
            line["error"] = scrub(self.formatException(record.exc_info).splitlines()[-1])
        return orjson.dumps(line, default=str).decode()


class ConsoleFormatter(logging.Formatter):
    """``HH:MM:SS level event key=value ...`` for a human at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%H:%M:%S")
        pairs = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        text = f"{stamp} {record.levelname.lower():<7} {scrub(record.getMessage())}"
        if record.exc_info:
            text += " error=" + scrub(self.formatException(record.exc_info).splitlines()[-1])
        return f"{text} {pairs}".rstrip()


def configure(
    fmt: str | None = None, *, level: int = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send psledger's log lines (INFO and up) to stderr (or `stream`) in `fmt`
    (default: $PSLEDGER_LOG_FORMAT, else console). Calling it again replaces
    the handler. Unconfigured, psledger logs nothing below WARNING."""
    fmt = (fmt or os.environ.get(ENV) or "console").lower()
    if fmt not in FORMATS:
        raise InputError(f"log format {fmt!r} is not one of {', '.join(FORMATS)}")
    logger = logging.getLogger("psledger")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def unconfigure() -> None:
    """Remove the handler `configure` installed (psledger logs as if unconfigured)."""
    logger = logging.getLogger("psledger")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
