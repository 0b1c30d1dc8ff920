"""Loading a contract's book for billing, by open work.

`Books.open_book` is what a billing run reads: the contract, its projects
(from the project -> contract index), its invoices, and only the items that
can change an invoice (psledger.store.item_index): open items of its
projects, open items on or returning from its invoices, and on a retainer
the invoiced time of the months its open time falls in. Nothing else in
the history can change what the run drafts (BILLING_RULES: pricing reads the
item, its contract version and rate card; the NTE reads the invoices; the
draw-down reads the month's invoiced hours).

`Books.full_book` is the whole book (every item of its projects and every
item on its invoices), for what-if pricing and repricing approvals. Both
load aggregates in chunks (psledger.store.bulk_load), not one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.billing import ContractBook
from domain.billing_context import invoiced_items
from domain.contract import Contract
from domain.customer import Customer
from domain.handlers import ITEM_KINDS
from domain.invoice import Invoice
from domain.project import Project
from domain.rate_card import RateCard
from domain.work_item import WorkItem
from psledger.app import LedgerApplication, UnitOfWork
from psledger.store import item_index
from psledger.store.bulk_load import EventReader, load_into
from psledger.store.errors import store_errors
from psledger.store.item_index import IndexReader
from psledger.store.rows import ItemStateRow


class Books:
    """Reads contracts' books from one store."""

    def __init__(self, app: LedgerApplication) -> None:
        self.app = app
        self.events = EventReader.of(app)
        self.index = IndexReader.of(app)
        self._recorder_writes: bool | None = None  # does the recorder write index rows?

    def entity_ids(self, kind: str, parent: str | None = None) -> list[str]:
        params = (kind,) if parent is None else (kind, parent)
        rows = self.app.fetch(self.app.tables.q_entities(parent is not None), params)
        return [row[0] for row in rows]

    # -- the index -------------------------------------------------------------

    def refresh_index(self) -> int:
        """Bring the index up to the events (rows missing or behind)."""
        return item_index.refresh(self.index, self.events, self.write_many)

    def write_rows(self, rows: list[ItemStateRow]) -> None:
        """Write the index rows a committed unit of work made, in their own
        transaction (a newer row is kept), unless the recorder wrote them
        with its events (checked once, on the first row)."""
        if not rows or self._recorder_writes:
            return
        if self._recorder_writes is None:
            first = rows[0]
            self._recorder_writes = self.index.version_of(first.kind, first.business_id) >= (
                first.version
            )
            if self._recorder_writes:
                return
        for statement, params in item_index.writes(self.index.p, rows):
            for start in range(0, len(params), item_index.PAGE):
                self.write_many(statement, params[start : start + item_index.PAGE])

    def write_many(self, statement: str, params: list[tuple[object, ...]]) -> None:
        with store_errors(), self.app.recorder.datastore.transaction(commit=True) as c:  # type: ignore[attr-defined]
            c.executemany(statement, params)

    # -- books -----------------------------------------------------------------

    def open_book(
        self, uow: UnitOfWork, contract_id: str, pending: frozenset[str] = frozenset()
    ) -> ContractBook:
        """The contract's book with only the items that can change an invoice."""
        contract, projects, invoices = self._frame(uow, contract_id)
        retainer = any(v.terms.billing_method == "retainer" for v in contract.versions.values())
        refs = self.index.book_items(contract_id, sorted(projects), retainer)
        items = self._items(uow, refs)
        return self._assemble(uow, contract, projects, items, invoices, pending)

    def full_book(
        self, uow: UnitOfWork, contract_id: str, pending: frozenset[str] = frozenset()
    ) -> ContractBook:
        """The contract's whole book: every item of its projects and on its invoices."""
        contract, projects, invoices = self._frame(uow, contract_id)
        refs = [
            (kind, iid)
            for pid in projects
            for kind in ITEM_KINDS
            for iid in self.entity_ids(kind, pid)
        ]
        items = self._items(uow, refs)
        # an item invoiced here that has moved away since: credited here, billed there
        held = {(item.KIND, item.business_id) for item in items}
        moved = [ref for ref in invoiced_items(invoices.values()) if ref not in held]
        items += self._items(uow, moved)
        return self._assemble(uow, contract, projects, items, invoices, pending)

    def _frame(
        self, uow: UnitOfWork, contract_id: str
    ) -> tuple[Contract, dict[str, Project], dict[str, Invoice]]:
        contract = uow.get(Contract, contract_id)
        assert contract is not None
        project_ids = self.index.projects_of(contract_id)
        numbers = self.entity_ids("invoice", contract_id)
        load_into(
            uow,
            [*((Project, p) for p in project_ids), *((Invoice, n) for n in numbers)],
            self.events,
        )
        # the index is as of its refresh: the project's current contract decides
        projects = {
            pid: p
            for pid in project_ids
            if (p := uow.get(Project, pid)) is not None and p.contract_id == contract_id
        }
        invoices = {n: inv for n in numbers if (inv := uow.get(Invoice, n)) is not None}
        return contract, projects, invoices

    def _items(self, uow: UnitOfWork, refs: Iterable[tuple[str, str]]) -> list[WorkItem]:
        wanted = [(ITEM_KINDS[kind], iid) for kind, iid in refs]
        load_into(uow, wanted, self.events)
        return [item for cls, iid in wanted if (item := uow.get(cls, iid)) is not None]

    def _assemble(
        self,
        uow: UnitOfWork,
        contract: Contract,
        projects: dict[str, Project],
        items: list[WorkItem],
        invoices: dict[str, Invoice],
        pending: frozenset[str],
    ) -> ContractBook:
        card_ids = {v.terms.rate_card_id for v in contract.versions.values()} - {None}
        cards = {cid: card for cid in card_ids if cid and (card := uow.get(RateCard, cid))}
        return ContractBook(
            contract,
            uow.get(Customer, contract.customer_id),
            projects,
            items,
            invoices,
            cards,
            pending,
        )
