"""Errors raised by the inbound CDC layer, in psledger's one error tree.

LedgerError (domain.errors)
├── InputError
│   └── DecodeError    a record that cannot be decoded (quarantine it)
└── InfrastructureError
    └── SourceError    a change source (Kafka, registry, engine, file) failed (stop, retry)
"""

from __future__ import annotations

from domain.errors import InfrastructureError, InputError


class DecodeError(InputError, ValueError):
    """A record could not be decoded; ``reason`` is a short code, ``detail`` a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}", reason=reason)
        self.detail = detail


class SourceError(InfrastructureError):
    """A change source failed: the broker, the registry or the engine."""

    reason = "source_failed"
