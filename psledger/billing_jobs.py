"""A billing run in several processes, each billing its share of the contracts.

A run commits one transaction per contract, and no two contracts share a
book (BILLING_RULES: caps, retainers and draw-downs are a contract's), so
shares of the contracts can be billed side by side. The parent bills the
first share itself and starts one helper per other share: a fresh
interpreter (spawned, not forked: nothing of the parent's connections or
threads crosses over) with a store of its own, `bootstrap(settings)`, the
parent's rules and the run's identity. A helper reports each contract as it
commits it.

Shares are balanced by the open items each contract has in the billing
index, and each process is given at least `MIN_PER_JOB` of them: a small
run stays in one process (starting a helper costs about half a second).

A helper that fails or dies leaves the contracts it did not report billed
or not (it may have died between a commit and its report). The run raises
`BillingIncomplete` once every process has stopped, naming them; running it
again finishes them (a contract already billed appends nothing).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from domain.errors import InfrastructureError
from domain.provenance import Provenance

if TYPE_CHECKING:
    from domain.rules import RuleSet
    from psledger.settings import Settings

MIN_PER_JOB = 3000  # open items: about a second of billing
POLL_S = 0.5


def default_jobs() -> int:
    """Processes for `bill`: the CPUs this process may use, up to 4."""
    return min(4, len(os.sched_getaffinity(0)))


@dataclass(frozen=True)
class RunIdentity:
    """What every process of one billing run shares: its period and id."""

    period: str
    run_id: str
    actor: str

    @property
    def provenance(self) -> Provenance:
        return Provenance("ledger", self.run_id, actor=self.actor, correlation_id=self.run_id)


@dataclass(frozen=True)
class ContractBilled:
    """One contract's committed transaction: what it issued and appended,
    and the billing exceptions its book was left with."""

    invoices: list[str]
    events_appended: int
    exceptions: Counter[str] = field(default_factory=Counter)


class BillingIncomplete(InfrastructureError):
    """A helper process stopped before billing all of its contracts."""


def plan_shares(
    contracts: Sequence[str], open_items: Mapping[str, int], jobs: int, min_per_job: int
) -> list[list[str]]:
    """The contracts in at most `jobs` shares of about equal open items (at
    least `min_per_job` each), every contract in exactly one, each share in
    the contracts' order; the first share is the largest."""
    total = sum(open_items.get(contract, 0) for contract in contracts)
    count = max(1, min(jobs, len(contracts), total // max(1, min_per_job)))
    if count == 1:
        return [list(contracts)]
    shares: list[list[str]] = [[] for _ in range(count)]
    loads = [0] * count
    for contract in sorted(contracts, key=lambda c: -open_items.get(c, 0)):
        lightest = loads.index(min(loads))
        shares[lightest].append(contract)
        loads[lightest] += open_items.get(contract, 0) + 1  # a book to open, even empty
    position = {contract: n for n, contract in enumerate(contracts)}
    return [sorted(share, key=position.__getitem__) for share in shares]


def _bill_share(
    send: Connection,
    settings: Settings,
    rules: RuleSet,
    run: RunIdentity,
    pending: frozenset[str],
    contracts: list[str],
) -> None:
    """In a helper process: bill `contracts`, reporting each as it commits."""
    try:
        from psledger.books import Books
        from psledger.bootstrap import bootstrap
        from psledger.ledger import Ledger

        wiring = bootstrap(settings)
        try:
            ledger = Ledger(wiring.app, rules, wiring.inbox, wiring.inbound, wiring.clock)
            books = Books(wiring.app)  # the parent brought the index up to date
            for contract_id in contracts:
                billed = ledger.bill_contract(
                    run, contract_id, books, pending, fault="helper_contract_billed"
                )
                send.send(("contract", (contract_id, billed)))
        finally:
            wiring.close()
        send.send(("done", None))
    except BaseException as exc:  # told to the parent, which raises
        with contextlib.suppress(OSError):  # the parent is gone: nobody to tell
            send.send(("failed", f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"))
    finally:
        send.close()


class Helpers:
    """The helper processes of one run, as a context manager: started on
    entry, and on exit killed if still running (the parent failed: each
    contract is its own transaction, so a killed helper leaves whole
    contracts, billed or not)."""

    def __init__(
        self,
        settings: Settings | None,
        rules: RuleSet,
        run: RunIdentity,
        pending: frozenset[str],
        shares: Sequence[list[str]],
    ) -> None:
        self.settings, self.rules, self.run, self.pending = settings, rules, run, pending
        self.shares = [share for share in shares if share]
        self.running: list[tuple[Any, Connection, list[str]]] = []

    def __enter__(self) -> Helpers:
        if self.shares and self.settings is None:
            raise InfrastructureError("billing helpers need the settings to open the store")
        context = multiprocessing.get_context("spawn")
        for share in self.shares:
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_bill_share,
                args=(send, self.settings, self.rules, self.run, self.pending, share),
                name=f"psledger-bill-{share[0]}",
                daemon=True,
            )
            process.start()
            send.close()
            self.running.append((process, receive, share))
        return self

    def __exit__(self, *exc: object) -> None:
        for process, receive, _ in self.running:
            if process.is_alive():
                process.kill()
            process.join()
            receive.close()

    def results(self) -> dict[str, ContractBilled]:
        """Every helper's contracts as it billed them, once all have stopped;
        `BillingIncomplete` if any stopped short, naming what it left."""
        billed: dict[str, ContractBilled] = {}
        failures: list[str] = []
        for process, receive, share in self.running:
            reported, ending = self._receive(process, receive)
            billed.update(reported)
            if ending is not None:
                left = [contract for contract in share if contract not in reported]
                failures.append(
                    f"a helper process stopped ({ending}) before confirming {len(left)} of "
                    f"its {len(share)} contracts: {', '.join(left[:5])}"
                    + (", ..." if len(left) > 5 else "")
                )
        if failures:
            raise BillingIncomplete(
                f"billing {self.run.period}: "
                + "; ".join(failures)
                + f". Run `psledger bill --period {self.run.period}` again to bill what is "
                "left of them (what is billed already appends nothing)."
            )
        return billed

    @staticmethod
    def _receive(process: Any, receive: Connection) -> tuple[dict[str, ContractBilled], str | None]:
        """A helper's reports until it is done; the second item says why it
        stopped short (None: it billed its whole share)."""
        reported: dict[str, ContractBilled] = {}
        while True:
            if not receive.poll(POLL_S):
                if process.is_alive() or receive.poll():
                    continue
                process.join()
                return reported, f"exit code {process.exitcode}"
            try:
                kind, value = receive.recv()
            except (EOFError, OSError):
                process.join()
                return reported, f"exit code {process.exitcode}"
            if kind == "contract":
                contract_id, billed = value
                reported[contract_id] = billed
            elif kind == "done":
                return reported, None
            else:
                return reported, str(value)
