"""Moves at the source: an item bills under its current project's current contract.

Two contracts: K1 (GBP, rate card RC-1: consultant 150.00 GBP) with project
P1, and K2 (USD, rate card RC-2: consultant 200.00 USD) with project P2. The
ledger bills one contract's book at a time, as the application does, each
book built from the entity index: a project's items, plus the items on the
contract's invoices (`invoiced_items`).
"""

from __future__ import annotations

from datetime import date

from builders import (
    LEDGER,
    PSA,
    RULES,
    D,
    FakeRepo,
    bill,
    book,
    contract,
    customer,
    event_names,
    project,
    rate_card,
    terms,
    time_entry,
)

from domain import commands as c
from domain.billing import BillingRun, ContractBook
from domain.billing_context import invoiced_items
from domain.billing_pricing import price_open_items
from domain.contract import Contract
from domain.handlers import handle
from domain.invoice import Invoice
from domain.period import Period
from domain.project import Project
from domain.time_entry import TimeEntry
from domain.work_item import WorkItem

JAN5 = date(2026, 1, 5)


class Firm:
    """Two contracts, their projects and rate cards, and the entity index."""

    def __init__(self, k2_method: str = "time_and_materials") -> None:
        self.k1 = contract(terms(), business_id="K1")
        k2_terms = terms(
            customer_id="CUST-2", legal_entity="US01", currency="USD", rate_card_id="RC-2",
            tax_code="US-NY-SERVICES", billing_method=k2_method,
        )  # fmt: skip
        self.k2 = contract(k2_terms, business_id="K2")
        self.p1 = project("P1", k="K1")
        self.p2 = project("P2", legal_entity="US01", k="K2")
        self.rc1 = rate_card(("consultant", "150.00", date(2026, 1, 1), None))
        self.rc2 = rate_card(
            ("consultant", "200.00", date(2026, 1, 1), None), currency="USD", business_id="RC-2"
        )
        self.repo = FakeRepo(self.k1, self.k2)
        self.repo.add(self.p1, parent_id="K1")
        self.repo.add(self.p2, parent_id="K2")
        self.invoices: dict[str, Invoice] = {}

    def add(self, item: WorkItem) -> WorkItem:
        self.repo.add(item, parent_id=item.project_id)
        return item

    def sync(self, entry: TimeEntry, **changes: object) -> None:
        """The PSA sends the entry's row again, approved, with these changes."""
        fields = {**entry.fields, **changes}
        handle(c.SyncWorkItem("time_entry", entry.business_id, fields, "approved",
                              "pm@psa", None, PSA), self.repo)  # fmt: skip

    def book_of(self, k: Contract) -> ContractBook:
        """What the application loads: the contract's projects (by their current
        contract), their items (by the index), and the items on its invoices."""
        projects = {
            p.business_id: p
            for (kind, _), p in self._all(Project)
            if p.contract_id == k.business_id and kind == "project"
        }
        items = {
            (item.KIND, item.business_id): item
            for _, item in self._all(TimeEntry)
            if self.repo.parents[(item.KIND, item.business_id)] in projects
        }
        own = {n: inv for n, inv in self.invoices.items() if inv.contract_id == k.business_id}
        for kind, item_id in invoiced_items(own.values()):
            items.setdefault((kind, item_id), self.repo.get(TimeEntry, item_id))
        b = book(k, list(items.values()), [self.rc1, self.rc2], list(projects.values()))
        b.invoices = own
        b.customer = customer(business_id=k.customer_id)
        return b

    def bill(self, period: str, order: tuple[str, ...] = ("K1", "K2")) -> list[Invoice]:
        """One billing run, one contract's book after the other."""
        drafted: list[Invoice] = []
        run = BillingRun(Period.parse(period), RULES, LEDGER)
        for contract_id in order:
            b = self.book_of(self.k1 if contract_id == "K1" else self.k2)
            new = run.bill(b)
            self.invoices.update({inv.business_id: inv for inv in new})
            drafted += new
        return drafted

    def _all(self, cls: type) -> list[tuple[tuple[str, str], object]]:
        return [
            ((agg.KIND, agg.business_id), agg)
            for (kls, _), agg in self.repo.store.items()
            if kls is cls
        ]


def lines_of(invoice: Invoice) -> dict[str, tuple[D, D]]:
    """item id -> (quantity, net) on an invoice."""
    return {ln["item_id"]: (ln["quantity"], ln["net"]) for ln in invoice.lines if ln["item_id"]}


# -- the entity index follows the move -------------------------------------------


def test_an_item_moved_to_another_project_is_re_added_under_its_new_project() -> None:
    firm = Firm()
    entry = firm.add(time_entry("TE-1", "2", JAN5))

    firm.sync(entry, project_id="P2")

    assert firm.repo.parents[("time_entry", "TE-1")] == "P2"
    assert entry.project_id == "P2"


def test_a_project_moved_to_another_contract_is_re_added_under_its_new_contract() -> None:
    firm = Firm()
    details = {**firm.p1.details, "contract_id": "K2"}

    handle(c.SyncProject("P1", details, PSA), firm.repo)

    assert firm.repo.parents[("project", "P1")] == "K2"
    assert firm.p1.contract_id == "K2"


def test_an_unchanged_project_or_item_is_not_re_added() -> None:
    firm = Firm()
    entry = firm.add(time_entry("TE-1", "2", JAN5))
    firm.repo.parents.clear()

    firm.sync(entry, hours=D("3"))
    handle(c.SyncProject("P1", {**firm.p1.details, "name": "renamed"}, PSA), firm.repo)

    assert firm.repo.parents == {}


# -- billing under the current project's contract ------------------------------


def test_an_item_moved_before_billing_is_billed_under_its_new_contract_at_its_rate() -> None:
    firm = Firm()
    entry = firm.add(time_entry("TE-1", "2", JAN5))

    firm.sync(entry, project_id="P2")
    invoices = {inv.business_id: inv for inv in firm.bill("2026-01")}

    # 2 h x 200.00 USD (RC-2), on K2's invoice; nothing on K1
    assert set(invoices) == {"US01-K2-2026-01"}
    assert lines_of(invoices["US01-K2-2026-01"]) == {"TE-1": (D("2"), D("400.00"))}
    assert invoices["US01-K2-2026-01"].header["currency"] == "USD"
    assert entry.invoice_number == "US01-K2-2026-01"


def test_a_book_still_holding_a_moved_item_does_not_bill_it() -> None:
    # The bug: an index that kept the first parent put TE-1 in K1's book,
    # which billed it at K1's rate in GBP.
    firm = Firm()
    entry = firm.add(time_entry("TE-1", "2", JAN5))
    entry.revise({**entry.fields, "project_id": "P2"}, PSA)  # moved; index not told
    k1_book = book(firm.k1, [entry], [firm.rc1], [firm.p1])

    assert bill(k1_book, "2026-01") == []
    assert entry.state == "approved"


def test_a_billable_item_that_moves_is_unpriced_and_priced_again_under_its_new_contract() -> None:
    firm = Firm()
    entry = firm.add(time_entry("TE-1", "2", JAN5))
    firm.bill("2026-01", order=())  # nothing billed yet
    k1_book = firm.book_of(firm.k1)
    price_open_items(BillingRun(Period.parse("2026-01"), RULES, LEDGER), k1_book)
    assert (entry.state, entry.priced[0]["net"]) == ("billable", D("300.00"))

    firm.sync(entry, project_id="P2")
    assert (entry.state, entry.priced) == ("approved", [])

    [invoice] = firm.bill("2026-01")
    assert invoice.business_id == "US01-K2-2026-01"
    assert lines_of(invoice) == {"TE-1": (D("2"), D("400.00"))}  # 2 h x 200.00 USD


def test_items_follow_their_project_to_its_new_contract() -> None:
    firm = Firm()
    entry = firm.add(time_entry("TE-1", "2", JAN5))

    moved = {**firm.p1.details, "contract_id": "K2", "legal_entity": "US01"}
    handle(c.SyncProject("P1", moved, PSA), firm.repo)
    [invoice] = firm.bill("2026-01")

    # P1 is K2's now: K2's terms (USD, RC-2): 2 h x 200.00 USD
    assert invoice.business_id == "US01-K2-2026-01"
    assert invoice.header["currency"] == "USD"
    assert lines_of(invoice) == {"TE-1": (D("2"), D("400.00"))}
    assert entry.invoice_number == "US01-K2-2026-01"


def test_time_priced_under_t_and_m_stops_at_approved_when_moved_to_fixed_price() -> None:
    firm = Firm(k2_method="fixed_price")
    entry = firm.add(time_entry("TE-1", "2", JAN5))
    run = BillingRun(Period.parse("2026-01"), RULES, LEDGER)
    price_open_items(run, firm.book_of(firm.k1))
    assert entry.state == "billable"

    handle(c.SyncProject("P1", {**firm.p1.details, "contract_id": "K2"}, PSA), firm.repo)

    assert firm.bill("2026-01") == []
    assert (entry.state, entry.priced, entry.exception) == ("approved", [], None)


# -- an item moved after it was invoiced: credit on the old contract, bill on the new --


def invoiced_in_january(firm: Firm) -> TimeEntry:
    entry = firm.add(time_entry("TE-1", "2", JAN5))
    [jan] = firm.bill("2026-01")
    assert (jan.business_id, lines_of(jan)) == ("GB01-K1-2026-01", {"TE-1": (D("2"), D("300.00"))})
    return entry  # type: ignore[return-value]


def test_an_invoiced_item_that_moves_waits_as_a_correction_under_its_new_project() -> None:
    firm = Firm()
    entry = invoiced_in_january(firm)

    firm.sync(entry, project_id="P2")

    assert (entry.state, entry.project_id) == ("invoiced", "P1")  # as invoiced
    assert entry.pending_correction == {"project_id": "P2"}
    assert entry.placed_in == "P2"
    assert firm.repo.parents[("time_entry", "TE-1")] == "P2"


def test_a_moved_invoiced_item_is_credited_on_its_old_contract_and_billed_on_its_new() -> None:
    firm = Firm()
    entry = invoiced_in_january(firm)
    firm.sync(entry, project_id="P2")

    invoices = {inv.business_id: inv for inv in firm.bill("2026-02")}

    # K1: a credit note negating January's line (-2 h, -300.00 GBP, tax at 20 %)
    note = invoices["GB01-K1-2026-01-C1"]
    assert (note.kind, note.header["currency"]) == ("credit_note", "GBP")
    assert lines_of(note) == {"TE-1": (D("-2"), D("-300.00"))}
    assert (note.net, note.tax) == (D("-300.00"), D("-60.00"))
    # K2: the item at K2's rate: 2 h x 200.00 USD
    assert lines_of(invoices["US01-K2-2026-02"]) == {"TE-1": (D("2"), D("400.00"))}
    assert set(invoices) == {"GB01-K1-2026-01-C1", "US01-K2-2026-02"}
    assert (entry.state, entry.project_id) == ("invoiced", "P2")
    assert entry.invoice_number == "US01-K2-2026-02"


def test_a_moved_item_whose_new_contract_bills_first_is_billed_in_the_next_run() -> None:
    firm = Firm()
    entry = invoiced_in_january(firm)
    firm.sync(entry, project_id="P2")

    first = [inv.business_id for inv in firm.bill("2026-02", order=("K2", "K1"))]
    second = [inv.business_id for inv in firm.bill("2026-03", order=("K2", "K1"))]

    assert first == ["GB01-K1-2026-01-C1"]
    assert second == ["US01-K2-2026-03"]
    assert entry.invoice_number == "US01-K2-2026-03"


def test_billing_the_books_together_credits_and_rebills_in_one_run_in_any_order() -> None:
    firm = Firm()
    entry = invoiced_in_january(firm)
    firm.sync(entry, project_id="P2")
    k2_book = firm.book_of(firm.k2)
    k1_book = book(firm.k1, [], [firm.rc1], [firm.p1])  # without the moved item
    k1_book.invoices = {n: inv for n, inv in firm.invoices.items() if inv.contract_id == "K1"}

    run = BillingRun(Period.parse("2026-02"), RULES, LEDGER)
    drafted = [inv.business_id for inv in run.bill_books([k2_book, k1_book])]

    assert drafted == ["GB01-K1-2026-01-C1", "US01-K2-2026-02"]
    assert "GB01-K1-2026-01-C1" in k1_book.invoices  # the credit note is K1's
    assert entry.invoice_number == "US01-K2-2026-02"


def test_a_move_undone_before_the_next_run_needs_no_credit_note() -> None:
    firm = Firm()
    entry = invoiced_in_january(firm)

    firm.sync(entry, project_id="P2")
    firm.sync(entry, project_id="P1")

    assert entry.pending_correction is None
    assert event_names(entry.collect_events())[-2:] == ["CorrectionRecorded", "CorrectionWithdrawn"]
    assert firm.repo.parents[("time_entry", "TE-1")] == "P1"
    assert firm.bill("2026-02") == []
    assert entry.invoice_number == "GB01-K1-2026-01"


def test_an_hours_correction_undone_before_the_next_run_needs_no_credit_note() -> None:
    firm = Firm()
    entry = invoiced_in_january(firm)

    firm.sync(entry, hours=D("3"))
    firm.sync(entry, hours=D("2"))

    assert entry.pending_correction is None
    assert firm.bill("2026-02") == []


def test_a_moved_item_is_billed_once_and_a_rerun_appends_nothing() -> None:
    firm = Firm()
    entry = invoiced_in_january(firm)
    firm.sync(entry, project_id="P2")
    firm.bill("2026-02")
    firm.repo.pending()
    for invoice in firm.invoices.values():
        invoice.collect_events()

    assert firm.bill("2026-02") == []
    appended = firm.repo.pending() + [e for i in firm.invoices.values() for e in i.collect_events()]
    assert event_names(appended) == []
    assert entry.invoice_number == "US01-K2-2026-02"
