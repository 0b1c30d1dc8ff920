"""Billing by open work: a run reads only what can change an invoice, and
nothing it leaves out could have.

Given Harbour & Pike's four months (scenario_firm.py) on each store, before
each month's billing run, when every contract is billed (and not committed)
once from the book a run reads (`Books.open_book`: open items only, from the
billing state index) and once from the whole book (every item of its
projects and on its invoices), then both draft the same documents, line for
line, and change the same items with the same events. The months hold what
an open book must not miss: a correction of an item invoiced in an earlier
month (credit note), the NTE release after the cap is raised, a January
retainer entry approved in February (January's invoiced hours drawn first),
and the re-issue of a rejected invoice. A fifth month moves project PRJ-303-B
to SOW-HP-101 and corrects TE-303-06 on its March invoice: SOW-HP-303's run
finds the item only through that invoice, and credits it.

Given a store whose index is gone (as before migration 8), when the store is
upgraded, then migration 8 backfills a row for every item and project, equal
to what the aggregates say.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scenario_cli import WEBHOOKS_FIRST, Psledger, ingest
from scenario_debezium import PsaTopics
from scenario_firm import (
    FINANCE,
    PROJECTS,
    STAMP,
    D,
    Month,
    approved,
    at,
    correction,
    write_firm,
    write_rules,
)

from domain.billing import BillingRun, ContractBook
from domain.handlers import ITEM_KINDS
from domain.period import Period
from domain.project import Project
from domain.provenance import Provenance
from psledger.app import UnitOfWork
from psledger.books import Books
from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings
from psledger.store import item_index
from psledger.store.schema import VERSION_TABLE, upgrade


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_url"))


def moved_and_corrected(psa: PsaTopics) -> list[bytes]:
    """May: PRJ-303-B moves to SOW-HP-101, then TE-303-06 (on SOW-HP-303's
    March invoice) is corrected from 8.00 to 6.00 hours."""
    contract, name, entity, pm = PROJECTS["PRJ-303-B"]
    project = {
        "id": "PRJ-303-B",
        "contract_id": contract,
        "name": name,
        "legal_entity": entity,
        "project_manager": pm,
        "status": "active",
        "updated_at": STAMP,
    }
    moved = {**project, "contract_id": "SOW-HP-101", "updated_at": at(D(2026, 5, 4), 9)}
    psa.commit(at(D(2026, 5, 4), 9), ("projects", "u", project, moved))
    entry = approved("TE-303-06", "PRJ-303-B", "W-32", D(2026, 3, 10), "8.00")
    psa.commit(at(D(2026, 5, 5), 11), correction(entry, "6.00", D(2026, 5, 5)))
    return []


def five_months(directory: Path) -> list[Month]:
    """The scenario's four months (scenario_firm.write_firm) and May."""
    return write_firm(directory, later=[("2026-05", moved_and_corrected, [])])


def dry_run(wiring: Wiring, period: str, books: Books, open_work: bool) -> dict[str, Any]:
    """Bill every contract from one kind of book, committing nothing: the
    documents drafted, the events each aggregate would get, and the items read."""
    ledger = wiring.ledger
    pending = frozenset(wiring.inbox.pending_changes())
    provenance = Provenance("ledger", f"dry:{period}", actor="test")
    documents: dict[str, Any] = {}
    changes: dict[str, list[str]] = {}
    read = 0
    for contract_id in ledger.entity_ids("contract"):
        uow = UnitOfWork(wiring.app)
        book_of = books.open_book if open_work else books.full_book
        book: ContractBook = book_of(uow, contract_id, pending)
        read += len(book.items)
        for invoice in BillingRun(Period.parse(period), ledger.rules, provenance).bill(book):
            documents[invoice.business_id] = (
                invoice.kind,
                invoice.header.get("original_number"),
                [
                    (ln.get("item_id"), ln.get("part"), str(ln["quantity"]), str(ln["net"]))
                    for ln in invoice.lines
                ],
            )
        for aggregate in uow.touched():
            if aggregate.pending_events:
                changes[f"{aggregate.KIND}:{aggregate.business_id}"] = [
                    type(event).__qualname__ for event in aggregate.pending_events
                ]
    return {"documents": documents, "changes": changes, "read": read}


def test_an_open_book_bills_exactly_what_the_whole_book_bills(store: str, tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    psledger = Psledger(store, rules)
    kinds_seen: set[str] = set()
    read = {"open": 0, "full": 0}
    credited: set[str] = set()
    for month in five_months(tmp_path):
        if month.webhooks:
            ingest(psledger, month, WEBHOOKS_FIRST)
        else:
            psledger("ingest", "debezium", str(month.change_events))
        for contract, version in month.amendments_to_approve:
            psledger("contracts", "approve-amendment", contract, str(version), "--by", FINANCE)
        wiring = bootstrap(Settings(store=store, rules_file=rules))
        try:
            books = Books(wiring.app)
            books.refresh_index()
            by_open = dry_run(wiring, month.period, books, open_work=True)
            by_full = dry_run(wiring, month.period, books, open_work=False)
        finally:
            wiring.close()
        assert by_open["documents"] == by_full["documents"], month.period
        assert by_open["changes"] == by_full["changes"], month.period
        kinds_seen.update(kind for kind, _, _ in by_full["documents"].values())
        if month.period == "2026-05":
            credited = {
                str(line[0])
                for kind, _, lines in by_open["documents"].values()
                if kind == "credit_note"
                for line in lines
            }
        read["open"] += by_open["read"]
        read["full"] += by_full["read"]
        psledger("bill", "--period", month.period, "--by", FINANCE)
    wiring = bootstrap(Settings(store=store, rules_file=rules))
    try:
        behind = Books(wiring.app).index.stale()  # the runs left the index current
    finally:
        wiring.close()
    assert behind == []
    assert {"invoice", "credit_note", "reissue"} <= kinds_seen
    assert credited == {"TE-303-06"}  # found through SOW-HP-303's invoice, not its projects
    assert read["open"] < read["full"]  # invoiced history was left out


def test_migration_8_backfills_the_index_from_a_store_without_it(
    store: str, tmp_path: Path
) -> None:
    rules = write_rules(tmp_path)
    psledger = Psledger(store, rules)
    for month in five_months(tmp_path)[:2]:
        ingest(psledger, month, WEBHOOKS_FIRST)
        psledger("bill", "--period", month.period, "--by", FINANCE)
    wiring = bootstrap(Settings(store=store, rules_file=rules))
    try:
        with wiring.app.recorder.datastore.transaction(commit=True) as c:  # type: ignore[attr-defined]
            c.execute(f"DROP TABLE {item_index.TABLE}")
            c.execute(f"DELETE FROM {VERSION_TABLE} WHERE version = 8")
        applied = upgrade(wiring.app)
        rows = wiring.app.fetch(f"SELECT * FROM {item_index.TABLE}")
        uow = UnitOfWork(wiring.app)
        expected = []
        for kind, cls in {**ITEM_KINDS, Project.KIND: Project}.items():
            for business_id in wiring.ledger.entity_ids(kind):
                aggregate = uow.get(cls, business_id)
                assert aggregate is not None
                row = item_index.row_of(aggregate)
                assert row is not None
                expected.append(item_index.writes("?", [row])[0][1][0])
    finally:
        wiring.close()
    assert [m.version for m in applied] == [8]
    assert sorted(tuple(r) for r in rows) == sorted(expected)
    assert {r[6] for r in rows} >= {"project", "invoiced", "posted"}


def test_the_index_is_written_with_the_events(store: str, tmp_path: Path) -> None:
    rules = write_rules(tmp_path)
    psledger = Psledger(store, rules)
    january, february = five_months(tmp_path)[:2]
    ingest(psledger, january, WEBHOOKS_FIRST)
    psledger("bill", "--period", january.period, "--by", FINANCE)
    ingest(psledger, february, WEBHOOKS_FIRST)  # captures, approvals, postings: no run since
    wiring = bootstrap(Settings(store=store, rules_file=rules))
    try:
        behind = Books(wiring.app).index.stale()
    finally:
        wiring.close()
    assert behind == []
