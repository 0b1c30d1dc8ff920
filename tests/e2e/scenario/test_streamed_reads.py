"""`psledger items` and `psledger invoices` read their views a page or a
batch at a time and print exactly what one read of the whole view prints.

Given Harbour & Pike's first three months billed (scenario_firm.py) on each
store, when `items` and `invoices` print with pages (and fetched batches) of one,
two and three rows, then every output equals the one printed with pages larger than the
views, and the order is by (date, kind, id) and (period, number) as Python
sorts those strings.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from scenario_cli import WEBHOOKS_FIRST, Psledger, ingest
from scenario_firm import FINANCE, write_firm, write_rules

from psledger import queries_views
from psledger.store import snapshot

COMMANDS = [
    ("items", "--format", "json"),
    ("items",),
    ("items", "--state", "invoiced", "--format", "json"),
    ("items", "--exception", "any"),
    ("invoices", "--format", "json"),
    ("invoices", "--format", "erp"),
    ("invoices", "--lines"),
    ("invoices", "--period", "2026-02", "--format", "json"),
]


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/ledger.db"
    return str(request.getfixturevalue("pg_url"))


def test_paged_reads_print_what_one_read_prints(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    psledger = Psledger(store, write_rules(tmp_path))
    for month in write_firm(tmp_path)[:3]:
        ingest(psledger, month, WEBHOOKS_FIRST)
        for contract, version in month.amendments_to_approve:
            psledger("contracts", "approve-amendment", contract, str(version), "--by", FINANCE)
        psledger("bill", "--period", month.period, "--by", FINANCE)

    def printed(page: int) -> list[str]:
        monkeypatch.setattr(queries_views, "INVOICE_PAGE", page)
        monkeypatch.setattr(snapshot, "FETCH_ROWS", page)
        return [psledger(*command) for command in COMMANDS]

    whole = printed(100_000)
    for page in (1, 2, 3):
        assert printed(page) == whole, page

    items = json.loads(whole[0])
    invoices = json.loads(whole[4])
    assert len(items) > 3 and len(invoices) > 3
    assert [(i["date"], i["kind"], i["id"]) for i in items] == sorted(
        (i["date"], i["kind"], i["id"]) for i in items
    )
    assert [(v["period"], v["number"]) for v in invoices] == sorted(
        (v["period"], v["number"]) for v in invoices
    )
