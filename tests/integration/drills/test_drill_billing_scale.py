"""Billing a large period on PostgreSQL in one `psledger bill`.

About 8,000 approved time entries (a generated firm, ingested from its
Debezium file with `psledger ingest debezium`) billed in one run. This used
to hang for ever in psycopg's pipeline mode; the store now writes in bounded
statements and billing commits one contract per transaction. A second run
appends nothing.

`PSLEDGER_DRILL_BILL_ENTRIES` changes the size; the measured run at 50,000
(wall time, peak RSS) is `tools/drill.py --entries 50000`.
"""

from __future__ import annotations

import os
import re
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from benchgen import write_debezium, write_webhooks
from drill import plan_for
from drill_support import PERIOD, finish, psledger, store_ledger
from support.postgres import PostgresCluster

from psledger.bootstrap import bootstrap
from psledger.settings import Settings

pytestmark = [pytest.mark.postgres]

ENTRIES = int(os.environ.get("PSLEDGER_DRILL_BILL_ENTRIES", "8000"))


def test_billing_eight_thousand_entries_in_one_run_finishes(
    pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    # given a firm with about 8,000 approved time entries in January, ingested
    plan = plan_for(ENTRIES)
    webhooks = write_webhooks(plan, tmp_path / "webhooks")
    write_debezium(plan, tmp_path / "firm.jsonl")
    url = pg_cluster.create_database(f"bill_{uuid.uuid4().hex[:12]}")
    store_ledger(url, webhooks).close()
    code, out, err = finish(psledger(url, "ingest", "debezium", str(tmp_path / "firm.jsonl")))
    assert code == 0, f"{out}\n{err}"

    # when the period is billed in one run
    started = time.monotonic()
    code, out, err = finish(psledger(url, "bill", "--period", PERIOD), timeout=600)
    took = time.monotonic() - started

    # then it finishes, with one invoice per project holding every entry
    assert code == 0, f"{out}\n{err}"
    billed = re.search(r"(\d+) events appended, (\d+) invoices", out)
    assert billed is not None and int(billed.group(2)) == plan.projects, out[:500]
    wiring = bootstrap(Settings(store=url))
    try:
        items = Counter(item.state for item in wiring.ledger.work_items())
        assert items == {"invoiced": plan.entries}, items
        lines = sum(len(inv.lines) for inv in wiring.ledger.invoices())
        assert lines == plan.entries
    finally:
        wiring.close()
    print(f"billed {plan.entries} entries into {plan.projects} invoices in {took:.1f} s")

    # and billing again appends nothing
    code, out, err = finish(psledger(url, "bill", "--period", PERIOD), timeout=600)
    assert code == 0 and " 0 events appended" in out, f"{out}\n{err}"
