"""Ledger errors become statuses and reason codes by class."""

from __future__ import annotations

import pytest

from cdc.webhooks import WebhookInvalid
from domain.errors import (
    ConflictingTerms,
    InfrastructureError,
    InputError,
    LedgerError,
    MissingDependency,
    OwnershipViolation,
    TransitionRefused,
    UnknownEntity,
)
from psledger.http.errors import from_ledger_error, one_line


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (WebhookInvalid("bad", [{"field": "data.x", "message": "m"}]), 422, "invalid_webhook"),
        (InputError("bad"), 422, "invalid_input"),
        (UnknownEntity("no such"), 404, "unknown_entity"),
        (TransitionRefused("invoice X", "posted", "post"), 409, "illegal_transition"),
        (ConflictingTerms("other terms"), 409, "conflicting_terms"),
        (OwnershipViolation("not yours"), 409, "ownership_violation"),
        (MissingDependency("waits", waits_for="contract:C"), 409, "missing_dependency"),
        (InfrastructureError("store down"), 503, "infrastructure"),
        (LedgerError("odd"), 400, "ledger_error"),
    ],
)
def test_status_and_code_by_class(error: LedgerError, status: int, code: str) -> None:
    mapped = from_ledger_error(error)
    assert (mapped.status, mapped.code) == (status, code)
    assert mapped.detail == str(error)


def test_a_webhook_naming_an_unknown_entity_is_a_conflict() -> None:
    assert from_ledger_error(UnknownEntity("x"), unknown_status=409).status == 409


def test_field_errors_travel_with_an_invalid_webhook() -> None:
    errors = [{"field": "data.x", "message": "m"}]
    assert from_ledger_error(WebhookInvalid("bad", errors)).errors == errors


def test_details_are_one_line() -> None:
    assert one_line("first\nsecond") == "first"
    assert len(one_line("x" * 2000)) == 500
