"""The ledger's application services: webhooks, the ledger's own commands,
billing, what-if pricing and the reads behind the views.

A webhook goes through the inbox like every other inbound change. The
ledger's own commands commit in one transaction each; a billing run commits
one transaction per contract (bounded, idempotent, resumable). A refused
command raises and appends nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from domain import commands as c
from domain.billing import BillingRun
from domain.handlers import ITEM_KINDS, handle
from domain.invoice import Invoice
from domain.period import Period
from domain.provenance import Provenance
from domain.repricing import InvoiceDiff, reprice_invoice
from domain.repricing_proposals import Proposal, approve_in_book
from domain.rules import RuleSet
from domain.work_item import WorkItem
from projections.erp import erp_payload
from psledger import faults
from psledger.app import LedgerApplication, UnitOfWork, with_retries
from psledger.billing_jobs import (
    MIN_PER_JOB,
    ContractBilled,
    Helpers,
    RunIdentity,
    plan_shares,
)
from psledger.books import Books
from psledger.inbound import InboundFactory
from psledger.inbox import Clock, Inbox, event_ids
from psledger.ops import metrics
from psledger.store.bulk_load import EventReader, load_into
from psledger.store.rows import OutboxRow

if TYPE_CHECKING:
    from psledger.settings import Settings


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Applied:
    """What applying a command (or a webhook delivery) appended."""

    event_ids: list[str]
    duplicate: bool = False
    parked: bool = False


@dataclass(frozen=True)
class BillingOutcome:
    period: str
    invoices: list[str]
    events_appended: int
    exceptions: dict[str, int]
    processes: int = 1  # that billed shares of the contracts side by side


class Ledger:
    """The application services behind the CLI, the HTTP app and the pipelines."""

    def __init__(
        self,
        app: LedgerApplication,
        rules: RuleSet,
        inbox: Inbox,
        inbound: InboundFactory,
        clock: Clock = utc_now,
        settings: Settings | None = None,
    ) -> None:
        self.app = app
        self.rules = rules
        self.inbox = inbox
        self.inbound = inbound
        self.clock = clock
        self.settings = settings  # what a billing run's helper processes start from

    # -- commands ------------------------------------------------------------

    def execute(self, command: c.Command) -> Applied:
        """Apply one of the ledger's own commands (a user's action) in one
        transaction, deciding again on a concurrent writer."""

        def work(uow: UnitOfWork) -> list[str]:
            handle(command, uow)
            return event_ids(uow)

        ids, _ = with_retries(self.app, work)
        return Applied(ids)

    def apply_webhook(
        self,
        body: bytes | str | dict[str, Any],
        *,
        expected_source: str | None = None,
        delivery_id: str | None = None,
        signature_key_id: str | None = None,
    ) -> Applied:
        """A CRM, HR or ERP delivery through the inbox, once per delivery id.
        A body that is refused is quarantined there, and its error raised."""
        if isinstance(body, dict):
            raw = orjson.dumps(body)
        elif isinstance(body, str):
            raw = body.encode("utf-8")
        else:
            raw = body
        unit = self.inbound.from_webhook(
            raw,
            expected_source=expected_source,
            delivery_id=delivery_id,
            signature_key_id=signature_key_id,
        )
        outcome = self.inbox.apply([unit]).outcomes[0]
        if outcome.error is not None and outcome.status == "quarantined":
            raise outcome.error
        return Applied(
            outcome.event_ids,
            duplicate=outcome.status == "duplicate",
            parked=outcome.status == "parked",
        )

    def approve_amendment(self, contract_id: str, version: int, by: str) -> Applied:
        now = self.clock()
        provenance = Provenance(
            "ledger",
            f"approve-amendment:{contract_id}:v{version}",
            actor=by,
            correlation_id=f"{contract_id}@{version}",
        )
        return self.execute(c.ApproveAmendment(contract_id, version, by, now, provenance))

    @metrics.observed_billing
    def bill(
        self,
        period: str,
        actor: str = "psledger",
        *,
        jobs: int = 1,
        min_per_job: int = MIN_PER_JOB,
    ) -> BillingOutcome:
        """Run billing for a period, one transaction per contract: a large run
        commits in bounded pieces, each idempotent, so a run stopped half-way
        is finished by running it again. With `jobs` > 1 (and `settings` to
        start them from) the contracts are billed in up to that many
        processes (psledger/billing_jobs.py); the outcome is the same."""
        month = Period.parse(period)
        run = RunIdentity(str(month), f"billing-run:{month}:{self.clock().isoformat()}", actor)
        pending = frozenset(self.inbox.pending_changes())
        books = Books(self.app)
        books.refresh_index()
        contracts = self.entity_ids("contract")
        shares = [contracts]
        if jobs > 1 and self.settings is not None:
            open_items = books.index.open_items_by_contract()
            shares = plan_shares(contracts, open_items, jobs, min_per_job)
        billed: dict[str, ContractBilled] = {}
        with Helpers(self.settings, self.rules, run, pending, shares[1:]) as helpers:
            for contract_id in shares[0]:
                billed[contract_id] = self.bill_contract(run, contract_id, books, pending)
            billed.update(helpers.results())
        # in the contracts' order, as one process gives them
        outcomes = [billed[contract_id] for contract_id in contracts]
        exceptions = sum((outcome.exceptions for outcome in outcomes), Counter[str]())
        return BillingOutcome(
            str(month),
            [number for outcome in outcomes for number in outcome.invoices],
            sum(outcome.events_appended for outcome in outcomes),
            dict(exceptions),
            processes=len(shares),
        )

    def bill_contract(
        self,
        run: RunIdentity,
        contract_id: str,
        books: Books,
        pending: frozenset[str],
        *,
        fault: str = "contract_billed",
    ) -> ContractBilled:
        """One contract of a billing run, in one transaction (decided again
        on a concurrent writer), with the ERP's copy of each issued invoice."""
        month = Period.parse(run.period)
        last: list[UnitOfWork] = []  # the attempt that committed
        exceptions = Counter[str]()  # as the committed attempt left its book

        def work(uow: UnitOfWork) -> list[Invoice]:
            last[:] = [uow]
            book = books.open_book(uow, contract_id, pending)
            new = BillingRun(month, self.rules, run.provenance).bill(book)
            now = self.clock()
            for invoice in new:
                uow.add(invoice, parent_id=contract_id)
                if invoice.state == "issued":  # the ERP's copy, in the same transaction
                    payload = orjson.dumps(erp_payload(invoice))
                    uow.rows.outbox.append(OutboxRow(invoice.business_id, payload, now))
            exceptions.clear()
            exceptions.update(
                item.exception["code"]
                for item in book.items
                if item.exception and item.state in ("approved", "billable") and book.bills(item)
            )
            return new

        new, notification_ids = with_retries(self.app, work)
        # the index as this contract's run left it (UnitOfWork.commit made the rows)
        books.write_rows(last[0].rows.item_states)
        faults.reached(fault)
        return ContractBilled(
            [invoice.business_id for invoice in new], len(notification_ids), exceptions
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
        books = Books(self.app)
        books.refresh_index()
        for contract_id in self.entity_ids("contract"):
            book = books.full_book(uow, contract_id)
            for invoice in sorted(book.invoices.values(), key=lambda i: i.business_id):
                if invoice.header["period"] == str(month) and invoice.state != "rejected":
                    diffs.append(reprice_invoice(invoice, book, rules))
            drafts.extend(BillingRun(month, rules, provenance).bill(book))
        return diffs, drafts

    def approve_repricing(self, period: str | None, rules: RuleSet, by: str) -> list[Proposal]:
        """`projections diff --apply`: record, one transaction per contract, that
        `by` approved re-pricing the changed issued invoices (of `period`, or
        all) under `rules`; the next billing run issues the credit notes and
        rebills. An approval already recorded appends nothing."""
        at = self.clock()
        provenance = Provenance(
            "ledger", f"repricing:{rules.version}:{period or 'all'}", actor=by, correlation_id=by
        )
        approved: list[Proposal] = []
        books = Books(self.app)
        books.refresh_index()
        for contract_id in self.entity_ids("contract"):

            def work(uow: UnitOfWork, contract_id: str = contract_id) -> list[Proposal]:
                book = books.full_book(uow, contract_id)
                return approve_in_book(book, rules, period, by, at, provenance)

            found, _ = with_retries(self.app, work)
            approved.extend(found)
        return approved

    # -- side tables -----------------------------------------------------------

    def entity_ids(self, kind: str, parent: str | None = None) -> list[str]:
        tables = self.app.tables
        params: Sequence[str] = (kind,) if parent is None else (kind, parent)
        rows = self.app.fetch(tables.q_entities(parent is not None), params)
        return [row[0] for row in rows]

    def entity_kinds(self, business_id: str) -> list[str]:
        return [row[0] for row in self.app.fetch(self.app.tables.q_entity_kinds(), (business_id,))]

    # -- reads used by the views -----------------------------------------------

    def load(self, cls: type[Any], business_id: str) -> Any:
        return UnitOfWork(self.app).get(cls, business_id)

    def invoices(self) -> list[Invoice]:
        """Every invoice (loaded in chunks; the views answer the CLI's reads)."""
        uow = UnitOfWork(self.app)
        wanted = [(Invoice, n) for n in self.entity_ids("invoice")]
        load_into(uow, wanted, EventReader.of(self.app))
        return [inv for _, n in wanted if (inv := uow.get(Invoice, n)) is not None]

    def work_items(self) -> list[WorkItem]:
        """Every work item (loaded in chunks; the views answer the CLI's reads)."""
        uow = UnitOfWork(self.app)
        wanted = [(cls, i) for kind, cls in ITEM_KINDS.items() for i in self.entity_ids(kind)]
        load_into(uow, wanted, EventReader.of(self.app))
        return [item for cls, i in wanted if (item := uow.get(cls, i)) is not None]

    def open_exceptions(self) -> list[WorkItem]:
        return [
            item
            for item in self.work_items()
            if item.exception is not None and item.state in ("approved", "billable")
        ]
