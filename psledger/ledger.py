"""The ledger's application services: apply commands, bill, approve.

Each public method is one transaction: it decides through the domain in a
unit of work, then appends the events and side rows together. A refused
command raises and appends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from cdc.webhooks import parse_webhook
from domain import commands as c
from domain.billing import BillingRun, ContractBook
from domain.contract import Contract
from domain.customer import Customer
from domain.handlers import ITEM_KINDS, handle
from domain.invoice import Invoice
from domain.period import Period
from domain.project import Project
from domain.provenance import Provenance
from domain.rate_card import RateCard
from domain.repricing import InvoiceDiff, reprice_invoice
from domain.rules import RuleSet
from domain.work_item import WorkItem
from psledger.app import LedgerApplication, UnitOfWork, with_retries
from psledger.store.rows import DedupRow

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def event_ids(uow: UnitOfWork) -> list[str]:
    """Readable ids of the events a unit of work is about to append."""
    return [
        f"{agg.KIND}:{agg.business_id}@{event.originator_version}"
        for agg in uow.touched()
        for event in agg.pending_events
    ]


@dataclass(frozen=True)
class Applied:
    """What applying a command (or a webhook delivery) appended."""

    event_ids: list[str]
    duplicate: bool = False
    new_entities: list[str] = field(default_factory=list)
    released: int = 0


@dataclass(frozen=True)
class BillingOutcome:
    period: str
    invoices: list[str]
    events_appended: int
    exceptions: dict[str, int]


class Ledger:
    """The application services behind the CLI, the HTTP app and the pipelines."""

    def __init__(self, app: LedgerApplication, rules: RuleSet, clock: Clock = utc_now) -> None:
        self.app = app
        self.rules = rules
        self.clock = clock
        # Set by bootstrap: retries parked records waiting for new entities.
        self.on_new_entities: Callable[[list[str]], int] | None = None

    # -- commands ------------------------------------------------------------

    def execute(self, command: c.Command, *, dedup_key: str | None = None) -> Applied:
        """Apply one command in one transaction; with a dedup key, a repeat
        returns the first answer and appends nothing."""

        def work(uow: UnitOfWork) -> Applied:
            if dedup_key is not None:
                first = self.dedup_lookup([dedup_key]).get(dedup_key)
                if first is not None:
                    return Applied(orjson.loads(first).get("event_ids", []), duplicate=True)
            handle(command, uow)
            applied = Applied(
                event_ids(uow),
                new_entities=[f"{r.kind}:{r.business_id}" for r in uow.rows.entities],
            )
            if dedup_key is not None:
                uow.rows.dedup.append(
                    DedupRow(
                        dedup_key,
                        orjson.dumps({"event_ids": applied.event_ids}).decode(),
                        self.clock(),
                    )
                )
            return applied

        applied, _ = with_retries(self.app, work)
        if applied.new_entities and self.on_new_entities is not None:
            released = self.on_new_entities(applied.new_entities)
            return Applied(applied.event_ids, applied.duplicate, applied.new_entities, released)
        return applied

    def apply_webhook(
        self,
        body: bytes | str | dict[str, Any],
        *,
        expected_source: str | None = None,
        delivery_id: str | None = None,
        signature_key_id: str | None = None,
    ) -> Applied:
        """Validate and apply a CRM, HR or ERP webhook body, once per delivery id."""
        _envelope, command = parse_webhook(
            body,
            expected_source=expected_source,
            delivery_id=delivery_id,
            signature_key_id=signature_key_id,
        )
        key = f"webhook:{command.provenance.source_system}:{command.provenance.delivery_id}"
        return self.execute(command, dedup_key=key)

    def approve_amendment(self, contract_id: str, version: int, by: str) -> Applied:
        now = self.clock()
        provenance = Provenance(
            "ledger",
            f"approve-amendment:{contract_id}:v{version}",
            actor=by,
            correlation_id=f"{contract_id}@{version}",
        )
        return self.execute(c.ApproveAmendment(contract_id, version, by, now, provenance))

    def bill(self, period: str, actor: str = "psledger") -> BillingOutcome:
        """Run billing for a period over every contract, in one transaction."""
        month = Period.parse(period)
        run_id = f"billing-run:{month}:{self.clock().isoformat()}"
        provenance = Provenance("ledger", run_id, actor=actor, correlation_id=run_id)

        def work(uow: UnitOfWork) -> list[Invoice]:
            run = BillingRun(month, self.rules, provenance)
            drafted: list[Invoice] = []
            for contract_id in self.entity_ids("contract"):
                book = self._book(uow, contract_id)
                new = run.bill(book)
                for invoice in new:
                    uow.add(invoice, parent_id=contract_id)
                drafted.extend(new)
            return drafted

        drafted, notification_ids = with_retries(self.app, work)
        exceptions: dict[str, int] = {}
        for item in self.open_exceptions():
            code = item.exception["code"] if item.exception else "?"
            exceptions[code] = exceptions.get(code, 0) + 1
        return BillingOutcome(
            str(month), [inv.business_id for inv in drafted], len(notification_ids), exceptions
        )

    def what_if(
        self, period: str, rules: RuleSet | None = None
    ) -> tuple[list[InvoiceDiff], list[Invoice]]:
        """A dry run under other rules: how the period's issued invoices would
        differ, and which invoices a billing run would draft now. Nothing is
        appended."""
        rules = rules or self.rules
        month = Period.parse(period)
        provenance = Provenance("ledger", f"what-if:{month}", actor="dry-run")
        uow = UnitOfWork(self.app)
        diffs: list[InvoiceDiff] = []
        drafts: list[Invoice] = []
        for contract_id in self.entity_ids("contract"):
            book = self._book(uow, contract_id)
            for invoice in sorted(book.invoices.values(), key=lambda i: i.business_id):
                if invoice.header["period"] == str(month) and invoice.state != "rejected":
                    diffs.append(reprice_invoice(invoice, book, rules))
            drafts.extend(BillingRun(month, rules, provenance).bill(book))
        return diffs, drafts

    # -- loading -------------------------------------------------------------

    def _book(self, uow: UnitOfWork, contract_id: str) -> ContractBook:
        contract = uow.get(Contract, contract_id)
        assert contract is not None
        # A project may have moved to another contract since it was first seen:
        # its current contract_id decides, not the index's first parent.
        projects = {
            pid: p
            for pid in self.entity_ids("project")
            if (p := uow.get(Project, pid)) is not None and p.contract_id == contract_id
        }
        items: list[WorkItem] = []
        for pid in projects:
            for kind, cls in ITEM_KINDS.items():
                for item_id in self.entity_ids(kind, parent=pid):
                    item = uow.get(cls, item_id)
                    if item is not None:
                        items.append(item)
        invoices = {
            number: inv
            for number in self.entity_ids("invoice", parent=contract_id)
            if (inv := uow.get(Invoice, number)) is not None
        }
        card_ids = {v.terms.rate_card_id for v in contract.versions.values()} - {None}
        cards = {cid: card for cid in card_ids if cid and (card := uow.get(RateCard, cid))}
        return ContractBook(
            contract, uow.get(Customer, contract.customer_id), projects, items, invoices, cards
        )

    # -- side tables -----------------------------------------------------------

    def entity_ids(self, kind: str, parent: str | None = None) -> list[str]:
        tables = self.app.tables
        params: Sequence[str] = (kind,) if parent is None else (kind, parent)
        rows = self.app.fetch(tables.q_entities(parent is not None), params)
        return [row[0] for row in rows]

    def entity_kinds(self, business_id: str) -> list[str]:
        return [row[0] for row in self.app.fetch(self.app.tables.q_entity_kinds(), (business_id,))]

    def dedup_lookup(self, keys: Sequence[str]) -> dict[str, str]:
        if not keys:
            return {}
        rows = self.app.fetch(self.app.tables.q_dedup(len(keys)), keys)
        return {row[0]: row[1] for row in rows}

    # -- reads used by the views -----------------------------------------------

    def load(self, cls: type[Any], business_id: str) -> Any:
        return UnitOfWork(self.app).get(cls, business_id)

    def invoices(self) -> list[Invoice]:
        uow = UnitOfWork(self.app)
        found = (uow.get(Invoice, n) for n in self.entity_ids("invoice"))
        return [inv for inv in found if inv is not None]

    def work_items(self) -> list[WorkItem]:
        uow = UnitOfWork(self.app)
        items: list[WorkItem] = []
        for kind, cls in ITEM_KINDS.items():
            for item_id in self.entity_ids(kind):
                item = uow.get(cls, item_id)
                if item is not None:
                    items.append(item)
        return items

    def open_exceptions(self) -> list[WorkItem]:
        return [
            item
            for item in self.work_items()
            if item.exception is not None and item.state in ("approved", "billable")
        ]
