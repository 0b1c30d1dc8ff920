"""Errors raised by the inbound CDC layer.

ValueError
└── DecodeError    a record that cannot be decoded (quarantine it)
Exception
└── SourceError    a change source (Kafka, engine, file) failed (stop, retry)
"""

from __future__ import annotations


class DecodeError(ValueError):
    """A record could not be decoded; ``reason`` is a short code, ``detail`` a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SourceError(Exception):
    """A change source failed: the broker, the registry or the engine."""
