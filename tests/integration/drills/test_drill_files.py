"""File drills on a generated firm (about 1,000 time entries, two contracts):

4. PostgreSQL restarted (`pg_ctl restart -m fast`) while `psledger ingest
   debezium FILE --batch-size 20` writes into it: the ingest goes on, or
   stops with one clear line on stderr and a non-zero exit; a rerun converges;
6. two `psledger ingest debezium` processes on the same file at once, into
   one store (PostgreSQL and SQLite): both exit 0, the result is one pass;
7. `psledger bill` while an ingest runs: both succeed, and billing again
   afterwards gives the invoices of ingest-then-bill; a bill SIGKILLed after
   its first contract (`contract_billed:1`), run again, gives the invoices of
   one run;
8. `psledger bill --jobs 2` (each contract billed in one of two processes):
   the helper process SIGKILLed after its first contract
   (`helper_contract_billed:1`) makes the run exit 1 naming the contracts
   it did not confirm, and the parent SIGKILLed after its first contract leaves its
   helper to stop on its own; either way a rerun gives the invoices of one
   run.

Each compares with a clean pass of the same file (see drill_support).
`PSLEDGER_DRILL_REPEAT=N` loops each drill N times.
"""

from __future__ import annotations

import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from drill_support import (
    PERIOD,
    Clean,
    assert_converged,
    attempts,
    clean_pass,
    dedup_keys,
    finish,
    psledger,
    sources_of,
    store_ledger,
    wait_progress,
)
from generated_firm import Firm, make_firm
from support.postgres import PostgresCluster
from test_cdc_scale_out import invoices, states

from cdc.sources import FileChangeSource
from psledger.bootstrap import bootstrap
from psledger.settings import Settings

pytestmark = [pytest.mark.postgres]

RECORDS = 3000


@pytest.fixture(scope="module")
def firm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Firm, Clean]:
    tmp = tmp_path_factory.mktemp("generated-firm")
    firm = make_firm(RECORDS, tmp)
    clean = clean_pass(f"sqlite:///{tmp}/clean.db", FileChangeSource([firm.file]), firm.webhooks)
    assert len(clean.invoices) == firm.plan.projects  # one invoice per project
    assert clean.quarantine == []
    return firm, clean


@pytest.fixture(scope="module")
def own_cluster() -> Iterator[PostgresCluster]:
    """A throwaway cluster of this module's own, to restart at will."""
    cluster = PostgresCluster()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def restart(cluster: PostgresCluster) -> None:
    """`pg_ctl restart -m fast`, as the server's OS user (as tests/support does)."""
    assert cluster.base_dir is not None
    base = cluster.base_dir
    cluster._run_pg(  # the cluster's own way to run its binaries
        [
            "pg_ctl",
            "-D",
            str(base / "data"),
            "-l",
            str(base / "postgres.log"),
            "-m",
            "fast",
            "-w",
            "-t",
            "60",
            "restart",
        ],
        base,
    )


def fresh_store(cluster: PostgresCluster, firm: Firm) -> str:
    url = cluster.create_database(f"drill_{uuid.uuid4().hex[:12]}")
    store_ledger(url, firm.webhooks).close()
    return url


def test_postgres_restarted_mid_batch_then_a_rerun_converges(
    firm: tuple[Firm, Clean], own_cluster: PostgresCluster
) -> None:
    generated, clean = firm
    outcomes: list[str] = []
    for attempt in attempts():
        threshold = 150 + (attempt * 370) % (RECORDS - 600)  # a record number mid-file
        context = f"restart after record {threshold} (attempt {attempt})"
        url = fresh_store(own_cluster, generated)

        # when PostgreSQL restarts while the ingest writes batches of 20
        ingest = psledger(url, "ingest", "debezium", str(generated.file), "--batch-size", "20")
        running = wait_progress(url, ingest, threshold)
        assert running, f"{context}: the ingest ended before the restart"
        restart(own_cluster)
        code, out, err = finish(ingest)

        # then it went on, or it stopped with one clear line and a non-zero exit
        if code == 0:
            outcomes.append("went on")
        else:
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("psledger: error: "), (
                f"{context}: exit {code}, stderr:\n{err}"
            )
            assert "Traceback" not in err and "Traceback" not in out
            outcomes.append(f"stopped ({code}): {lines[0]}")
            # and a rerun converges
            code, out, err = finish(
                psledger(url, "ingest", "debezium", str(generated.file), "--batch-size", "20")
            )
            assert code == 0, f"{context}: the rerun failed\n{out}\n{err}"
        assert_converged(url, clean, context).close()
        print(f"drill ok: {context}: {outcomes[-1]}", flush=True)
    print("restart outcomes:", *outcomes, sep="\n  ")


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_two_ingests_of_one_file_at_once_give_one_pass(
    backend: str, firm: tuple[Firm, Clean], pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    generated, clean = firm
    for attempt in attempts():
        context = f"{backend}, attempt {attempt}"
        if backend == "sqlite":
            url = f"sqlite:///{tmp_path}/twice-{attempt}.db"
            store_ledger(url, generated.webhooks).close()
        else:
            url = fresh_store(pg_cluster, generated)

        # when two processes ingest the same file into the store at once
        args = ("ingest", "debezium", str(generated.file), "--batch-size", "50")
        both = [psledger(url, *args) for _ in range(2)]
        results = [finish(p) for p in both]

        # then both exit 0 and the store holds one pass
        for code, out, err in results:
            assert code == 0, f"{context}\n{out}\n{err}"
        assert_converged(url, clean, context).close()
        print(f"drill ok: {context}", flush=True)


def billed_lines(invoices: dict[str, tuple[Any, ...]]) -> list[tuple[str, str, str]]:
    """(item, quantity, amount) of every invoice line."""
    return [line for inv in invoices.values() for line in inv[5]]


def test_billing_while_ingesting_both_succeed_and_nothing_is_billed_twice(
    firm: tuple[Firm, Clean], pg_cluster: PostgresCluster
) -> None:
    generated, clean = firm
    clean_lines = set(billed_lines(clean.invoices))
    for attempt in attempts():
        context = f"attempt {attempt}"
        url = fresh_store(pg_cluster, generated)

        # when billing runs while the file is being ingested (its approvals)
        ingest = psledger(url, "ingest", "debezium", str(generated.file), "--batch-size", "20")
        assert wait_progress(url, ingest, 1550 + (attempt * 97) % 600), context
        code, out, err = finish(psledger(url, "bill", "--period", PERIOD))
        assert code == 0, f"{context}: bill\n{out}\n{err}"
        during = out.splitlines()[0]
        code, out, err = finish(ingest)
        assert code == 0, f"{context}: ingest\n{out}\n{err}"

        # then the ingest lost and doubled nothing
        wiring = bootstrap(Settings(store=url))
        try:
            assert dedup_keys(wiring) == clean.keys, context
            assert max(Counter(sources_of(wiring)).values()) == 1, context
            # and billing again bills no item twice, each at its one-pass figures
            wiring.ledger.bill(PERIOD)
            lines = billed_lines(invoices(wiring))
            assert max(Counter(item for item, _, _ in lines).values()) == 1, context
            assert set(lines) <= clean_lines, context
            left = {k for k, v in states(wiring).items() if v[0] != clean.states[k][0]}
            print(f"drill ok: {context}: {during}; {len(left)} items not invoiced as in one pass")
        finally:
            wiring.close()


def test_approvals_after_the_period_was_billed_wait_for_the_next_run(
    firm: tuple[Firm, Clean], pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    """BILLING_RULES.md: one invoice per (entity, contract, period[, project]),
    numbered deterministically; what is approved after it was issued is the
    backlog of the next period's run, not a second invoice of the same period."""
    generated, _clean = firm
    # given three quarters of the period's approvals ingested, and the period billed
    url = fresh_store(pg_cluster, generated)
    lines = generated.file.read_bytes().splitlines(keepends=True)
    begins = [n for n, line in enumerate(lines) if b'\\"status\\":\\"BEGIN' in line]
    cut = begins[len(begins) * 3 // 4]  # a transaction boundary amid the approvals
    head = tmp_path / "head.jsonl"
    head.write_bytes(b"".join(lines[:cut]))
    code, out, err = finish(psledger(url, "ingest", "debezium", str(head)))
    assert code == 0, f"{out}\n{err}"
    code, out, err = finish(psledger(url, "bill", "--period", PERIOD))
    assert code == 0 and " 0 invoices" not in out, f"{out}\n{err}"

    # when the rest arrives and the same period is billed again
    code, out, err = finish(psledger(url, "ingest", "debezium", str(generated.file)))
    assert code == 0, f"{out}\n{err}"
    code, out, err = finish(psledger(url, "invoices", "--period", PERIOD, "--format", "json"))
    first = {inv["number"]: inv["gross"] for inv in orjson.loads(out)}
    code, out, err = finish(psledger(url, "bill", "--period", PERIOD))
    assert code == 0, f"{out}\n{err}"
    # (only projects that had no invoice of the period yet get one now)
    code, out, err = finish(psledger(url, "invoices", "--period", PERIOD, "--format", "json"))
    again = {inv["number"]: inv["gross"] for inv in orjson.loads(out)}
    assert {n: again[n] for n in first} == first

    # then the late approvals wait, billable; the next period's run invoices them all
    code, out, err = finish(psledger(url, "items", "--state", "billable", "--format", "json"))
    waiting = {item["id"] for item in orjson.loads(out)}
    assert code == 0 and waiting, f"{out}\n{err}"
    year, month = (int(part) for part in PERIOD.split("-"))
    following = f"{year + month // 12}-{month % 12 + 1:02d}"
    code, out, err = finish(psledger(url, "bill", "--period", following))
    assert code == 0, f"{out}\n{err}"
    code, out, err = finish(psledger(url, "items", "--state", "billable", "--format", "json"))
    assert orjson.loads(out) == [], out
    code, out, err = finish(psledger(url, "invoices", "--period", following, "--format", "json"))
    billed = {line["item_id"] for inv in orjson.loads(out) for line in inv.get("lines", [])}
    assert waiting <= billed


def test_billing_killed_after_a_contract_then_rerun_gives_the_invoices_of_one_run(
    firm: tuple[Firm, Clean], pg_cluster: PostgresCluster
) -> None:
    generated, clean = firm
    assert generated.plan.contracts >= 2
    for attempt in attempts():
        context = f"attempt {attempt}"
        url = fresh_store(pg_cluster, generated)
        code, out, err = finish(psledger(url, "ingest", "debezium", str(generated.file)))
        assert code == 0, f"{context}\n{out}\n{err}"

        # when billing is SIGKILLed once its first contract is committed
        code, out, err = finish(
            psledger(url, "bill", "--period", PERIOD, fault="contract_billed:1")
        )
        assert code == -signal.SIGKILL, f"{context}: not killed\n{out}\n{err}"

        # and run again
        code, out, err = finish(psledger(url, "bill", "--period", PERIOD))
        assert code == 0, f"{context}\n{out}\n{err}"

        # then the invoices are those of one run (billing once more adds nothing)
        assert_converged(url, clean, context).close()
        print(f"drill ok: {context}", flush=True)


@pytest.mark.parametrize(
    ("fault", "exit_code"),
    [("helper_contract_billed:1", 1), ("contract_billed:1", -signal.SIGKILL)],
    ids=["helper-killed", "parent-killed"],
)
def test_billing_in_two_processes_killed_after_a_contract_then_rerun_gives_one_run(
    firm: tuple[Firm, Clean], pg_cluster: PostgresCluster, fault: str, exit_code: int
) -> None:
    generated, clean = firm
    for attempt in attempts():
        context = f"{fault}, attempt {attempt}"
        url = fresh_store(pg_cluster, generated)
        code, out, err = finish(psledger(url, "ingest", "debezium", str(generated.file)))
        assert code == 0, f"{context}\n{out}\n{err}"

        # when one of the run's two processes is SIGKILLed once it committed a contract
        two = ("--jobs", "2", "--min-per-job", "1")
        code, out, err = finish(psledger(url, "bill", "--period", PERIOD, *two, fault=fault))
        assert code == exit_code, f"{context}: exit {code}\n{out}\n{err}"
        if code == 1:  # the parent saw it and says what is left
            assert "a helper process stopped (exit code -9) before confirming" in err, err
            assert f"psledger bill --period {PERIOD}` again" in err, err

        # and the run is repeated
        code, out, err = finish(psledger(url, "bill", "--period", PERIOD, *two))
        assert code == 0, f"{context}\n{out}\n{err}"

        # then the invoices are those of one run (billing once more adds nothing)
        assert_converged(url, clean, context).close()
        print(f"drill ok: {context}", flush=True)
