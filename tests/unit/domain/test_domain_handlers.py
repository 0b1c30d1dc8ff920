"""Handlers: ownership, dependencies, idempotent contract terms, ERP postings."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any

import pytest
from builders import (
    CRM,
    ERP,
    HR,
    LEDGER,
    PSA,
    D,
    FakeRepo,
    at,
    bill,
    book,
    contract,
    event_names,
    project,
    rate_card,
    repo_for,
    time_entry,
)

from domain import commands as c
from domain.contract import Contract, terms_from_sow
from domain.customer import Customer
from domain.errors import (
    ConflictingTerms,
    InputError,
    MissingDependency,
    OwnershipViolation,
    UnknownEntity,
)
from domain.handlers import handle
from domain.invoice import Invoice
from domain.project import Project
from domain.time_entry import TimeEntry

SOW: dict[str, Any] = {
    "contract_id": "SOW-1042",
    "version": 1,
    "customer": {"id": "ACC-77", "name": "Northwind Retail Ltd", "payment_terms_days": 30},
    "legal_entity": "GB01",
    "currency": "GBP",
    "billing_method": "time_and_materials",
    "not_to_exceed": "60000.00",
    "retainer": None,
    "rate_card_id": "RC-GB-2026",
    "expense_markup_pct": "0",
    "tax_code": "GB-VAT-STD",
    "invoice_frequency": "monthly",
    "consolidation": "per_contract",
    "po_number": "PO-88121",
    "effective_from": "2026-01-05",
    "effective_to": "2026-06-30",
    "milestones": [],
}
APPROVED_AT = at(date(2026, 1, 5))


def approve_sow(data: dict[str, Any], source: str = "crm") -> c.ApproveSow:
    return c.ApproveSow(
        contract_id=data["contract_id"],
        terms=terms_from_sow(data),
        customer=data["customer"],
        at=APPROVED_AT,
        provenance=CRM if source == "crm" else PSA,
    )


def sync_entry(status: str = "approved", hours: str = "7.5") -> c.SyncWorkItem:
    fields = {
        "project_id": "P1",
        "role": "consultant",
        "work_date": date(2026, 1, 5),
        "hours": D(hours),
        "billable": True,
    }
    return c.SyncWorkItem("time_entry", "TE-1", fields, status, "pm@psa", None, PSA)


# -- ownership -------------------------------------------------------------------


def test_a_psa_sourced_sow_approval_is_an_ownership_violation() -> None:
    repo = FakeRepo()
    with pytest.raises(OwnershipViolation, match="ApproveSow belongs to the CRM, not to PSA"):
        handle(approve_sow(SOW, source="psa"), repo)
    assert repo.store == {}


@pytest.mark.parametrize(
    "command",
    [
        c.PostInvoice("INV-1", "ERP-1", APPROVED_AT, None, PSA),
        c.RejectInvoice("INV-1", "no", None, LEDGER),
        c.ApproveAmendment("K1", 2, "fin", APPROVED_AT, CRM),
        c.RecordWorker("W1", {"role": "consultant"}, date(2026, 1, 1), PSA),
        c.SyncRateCard("RC-1", "Standard", "GBP", HR),
        c.SyncWorkItem("time_entry", "TE-1", {"project_id": "P1"}, "approved", None, None, ERP),
    ],
    ids=lambda cmd: f"{type(cmd).__name__}-from-{cmd.provenance.source_system}",
)
def test_a_command_from_a_system_that_does_not_own_it_is_refused(command: c.Command) -> None:
    with pytest.raises(OwnershipViolation):
        handle(command, FakeRepo())


def test_the_psa_cannot_set_a_ledger_status() -> None:
    repo = FakeRepo(contract(), project("P1"))
    with pytest.raises(OwnershipViolation, match="cannot set status 'invoiced'"):
        handle(sync_entry(status="invoiced"), repo)
    assert repo.get(TimeEntry, "TE-1") is None


# -- dependencies ----------------------------------------------------------------


def test_a_work_item_before_its_project_waits_for_the_project() -> None:
    repo = FakeRepo(contract())
    with pytest.raises(MissingDependency) as waiting:
        handle(sync_entry(), repo)
    assert waiting.value.waits_for == "project:P1"
    assert repo.get(TimeEntry, "TE-1") is None


def test_a_project_before_its_contract_waits_for_the_contract() -> None:
    details = {"contract_id": "K1", "legal_entity": "GB01", "status": "active"}
    with pytest.raises(MissingDependency) as waiting:
        handle(c.SyncProject("P1", details, PSA), FakeRepo())
    assert waiting.value.waits_for == "contract:K1"


def test_a_work_item_for_a_known_project_is_captured_approved_then_corrected() -> None:
    repo = FakeRepo(contract(), project("P1"))
    handle(sync_entry(), repo)
    entry = repo.get(TimeEntry, "TE-1")
    assert (entry.state, entry.approved_by) == ("approved", "pm@psa")
    assert event_names(entry.collect_events()) == ["Captured", "Approved"]

    handle(sync_entry(status="submitted"), repo)  # re-opened in the PSA
    assert entry.state == "planned"


# -- contract terms (CRM) --------------------------------------------------------


def test_a_sow_approval_registers_the_customer_and_version_1() -> None:
    repo = FakeRepo()
    handle(approve_sow(SOW), repo)

    k = repo.get(Contract, "SOW-1042")
    assert repo.get(Customer, "ACC-77").payment_terms_days == 30
    v1 = k.version_in_force(date(2026, 1, 5))
    assert (v1.version, v1.not_to_exceed, v1.po_number) == (1, D("60000.00"), "PO-88121")
    assert k.version_in_force(date(2026, 1, 4)) is None  # before effective_from
    assert k.version_in_force(date(2026, 7, 1)) is None  # after effective_to


def test_the_same_sow_approval_twice_appends_nothing() -> None:
    repo = FakeRepo()
    handle(approve_sow(SOW), repo)
    repo.pending()

    handle(approve_sow(copy.deepcopy(SOW)), repo)

    assert repo.pending() == []


def test_a_second_approval_of_version_1_with_other_terms_conflicts() -> None:
    repo = FakeRepo()
    handle(approve_sow(SOW), repo)
    repo.pending()

    with pytest.raises(ConflictingTerms, match="version 1 is already approved"):
        handle(approve_sow({**SOW, "not_to_exceed": "70000.00"}), repo)
    assert repo.get(Contract, "SOW-1042").versions[1].terms.not_to_exceed == D("60000.00")


def test_an_amendment_is_in_force_only_once_finance_approves_it() -> None:
    repo = FakeRepo()
    handle(approve_sow(SOW), repo)
    changes = {"not_to_exceed": "85000.00", "effective_to": "2026-09-30"}
    handle(c.ProposeAmendment("SOW-1042", 2, changes, date(2026, 2, 16), "CO-3", CRM), repo)
    k = repo.get(Contract, "SOW-1042")
    assert k.version_in_force(date(2026, 2, 16)).version == 1

    handle(c.ApproveAmendment("SOW-1042", 2, "fin@firm", at(date(2026, 2, 17)), LEDGER), repo)

    v2 = k.version_in_force(date(2026, 2, 16))
    assert (v2.version, v2.not_to_exceed, v2.effective_to) == (2, D("85000.00"), date(2026, 9, 30))
    assert k.version_in_force(date(2026, 2, 15)).version == 1


def test_amending_an_unknown_contract_is_an_unknown_entity() -> None:
    with pytest.raises(UnknownEntity, match="contract SOW-9 is not known"):
        handle(c.ProposeAmendment("SOW-9", 2, {}, date(2026, 2, 1), None, CRM), FakeRepo())


# -- ERP postings ----------------------------------------------------------------


def test_posting_an_unknown_invoice_is_an_unknown_entity() -> None:
    with pytest.raises(UnknownEntity, match="invoice GB01-K1-2026-01 is not known"):
        handle(c.PostInvoice("GB01-K1-2026-01", "ERP-1", APPROVED_AT, "GB01", ERP), FakeRepo())


def billed_january() -> tuple[FakeRepo, TimeEntry]:
    entry = time_entry("TE-1", "2", date(2026, 1, 5))
    b = book(contract(), [entry], [rate_card(("consultant", "100.00", date(2026, 1, 1), None))])
    bill(b, "2026-01")
    repo = repo_for(b)
    repo.pending()
    return repo, entry


def test_posting_an_invoice_posts_its_items_and_a_repeat_appends_nothing() -> None:
    repo, entry = billed_january()
    post = c.PostInvoice("GB01-K1-2026-01", "ERP-77", at(date(2026, 2, 1)), "GB01", ERP)

    handle(post, repo)

    invoice = repo.get(Invoice, "GB01-K1-2026-01")
    assert (invoice.state, invoice.erp_document_no) == ("posted", "ERP-77")
    assert (entry.state, entry.erp_document_no) == ("posted", "ERP-77")
    repo.pending()
    handle(post, repo)
    assert repo.pending() == []


def test_posting_for_another_legal_entity_is_refused() -> None:
    repo, entry = billed_january()
    with pytest.raises(InputError, match="belongs to legal entity GB01, not DE01"):
        handle(c.PostInvoice("GB01-K1-2026-01", "ERP-1", APPROVED_AT, "DE01", ERP), repo)
    assert entry.state == "invoiced"


def test_the_psa_project_status_is_recorded_on_the_project() -> None:
    repo = FakeRepo(contract())
    details = {"contract_id": "K1", "legal_entity": "GB01", "status": "on_hold"}
    handle(c.SyncProject("P1", details, PSA), repo)
    assert repo.get(Project, "P1").status == "on_hold"
