"""The work-item state machine of BILLING_RULES.md, as data: the states, the
transitions the diagram allows, and the billing exception codes."""

from __future__ import annotations

PLANNED, APPROVED, BILLABLE, INVOICED, POSTED = (
    "planned",
    "approved",
    "billable",
    "invoiced",
    "posted",
)
STATES = (PLANNED, APPROVED, BILLABLE, INVOICED, POSTED)

TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {
        (PLANNED, APPROVED),
        (APPROVED, PLANNED),
        (APPROVED, BILLABLE),
        (BILLABLE, APPROVED),
        (BILLABLE, INVOICED),
        (INVOICED, BILLABLE),
        (INVOICED, POSTED),
        (POSTED, BILLABLE),
    }
)

EXCEPTIONS = (
    "no_rate",
    "no_fx_rate",
    "no_contract_version",
    "nte_exceeded",
    "project_on_hold",
    "invalid_tax_code",
    "invalid_amount",
    "pending_source_change",
)
