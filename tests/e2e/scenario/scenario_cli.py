"""The operator's month: ingest the month's files, approve what finance
approved, run billing; all through `psledger` commands (click's CliRunner on
`psledger.cli:cli`, in process). Nothing of the ledger's internals is
imported: they are being refactored, and this is the net that holds them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from scenario_firm import FINANCE, Month, write_firm, write_rules

from psledger.cli import cli

WEBHOOKS_FIRST = "webhooks-first"
CHANGE_EVENTS_FIRST = "change-events-first"


class Psledger:
    """`psledger --store STORE --rules RULES ...`, in process."""

    def __init__(self, store: str, rules: Path) -> None:
        self.store = store
        self.rules = rules
        self.runner = CliRunner()

    def __call__(self, *args: str) -> str:
        result = self.runner.invoke(cli, ["--store", self.store, "--rules", str(self.rules), *args])
        if result.exit_code != 0:
            raise AssertionError(
                f"psledger {' '.join(args)} exited {result.exit_code}: {result.output}"
            ) from result.exception
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--format", "json"))


@dataclass
class Outcome:
    """What the operator saw: documents at the end, held items after each run,
    and what repeating the runs and the ingestion appended."""

    documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    held: dict[str, list[str]] = field(default_factory=dict)
    billed: dict[str, str] = field(default_factory=dict)  # what each month's run said
    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    billed_again: list[str] = field(default_factory=list)
    ingested_again: list[str] = field(default_factory=list)
    documents_after_repeats: dict[str, dict[str, Any]] = field(default_factory=dict)


def ingest(psledger: Psledger, month: Month, order: str) -> None:
    webhooks = ["ingest", "webhook", *map(str, month.webhooks)]
    change_events = ["ingest", "debezium", str(month.change_events)]
    first, second = (webhooks, change_events)
    if order == CHANGE_EVENTS_FIRST:
        first, second = second, first
    psledger(*first)
    psledger(*second)


def documents(psledger: Psledger) -> dict[str, dict[str, Any]]:
    return {doc["number"]: doc for doc in psledger.json("invoices", "--lines")}


def run_four_months(
    store: str, order: str, workdir: Path, bill_options: tuple[str, ...] = ()
) -> Outcome:
    psledger = Psledger(store, write_rules(workdir))
    months = write_firm(workdir)
    outcome = Outcome()
    for month in months:
        ingest(psledger, month, order)
        for contract, version in month.amendments_to_approve:
            psledger("contracts", "approve-amendment", contract, str(version), "--by", FINANCE)
        billed = psledger("bill", "--period", month.period, "--by", FINANCE, *bill_options)
        outcome.billed[month.period] = billed
        held = psledger.json("items", "--exception", "nte_exceeded")
        outcome.held[month.period] = sorted(item["id"] for item in held)
    outcome.documents = documents(psledger)
    outcome.items = {item["id"]: item for item in psledger.json("items")}

    for month in months:
        outcome.billed_again.append(psledger("bill", "--period", month.period, *bill_options))
    every_webhook = [str(path) for month in months for path in month.webhooks]
    outcome.ingested_again.append(psledger("ingest", "webhook", *every_webhook))
    every_file = [str(month.change_events) for month in months]
    outcome.ingested_again.append(psledger("ingest", "debezium", *every_file))
    outcome.documents_after_repeats = documents(psledger)
    return outcome
