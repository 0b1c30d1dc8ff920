"""Parking: records that need an entity not seen yet wait for it, and age out.

Records are the real engine output of the firm (tests/fixtures/debezium/psa_firm.jsonl),
delivered in an order where dependents come first.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import orjson
from click.testing import CliRunner
from psa_firm import SOW_APPROVED, ListSource, ledger
from test_cdc_transactions import firm_records

from cdc.envelope import decode_json
from cdc.records import ChangeEvent, RawRecord
from domain.time_entry import TimeEntry
from psledger.bootstrap import bootstrap
from psledger.cli import cli
from psledger.queries import history
from psledger.settings import Settings


def entity(raw: RawRecord) -> tuple[str, str, str] | None:
    decoded = decode_json(raw)
    if isinstance(decoded, ChangeEvent) and decoded.key:
        return (str(decoded.table), str(decoded.key["id"]), decoded.op)
    return None


def lone(raw: RawRecord) -> RawRecord:
    """The change without its transaction block (applied on its own)."""
    envelope = orjson.loads(raw.value or b"")
    envelope["payload"]["transaction"] = None
    return RawRecord(raw.topic, raw.partition, raw.offset, raw.key, orjson.dumps(envelope))


def test_a_crm_webhook_releases_the_psa_records_that_waited_for_its_contract(
    tmp_path: Path,
) -> None:
    # given a ledger that has not heard of contract SOW-1042 yet
    store = tmp_path / "ledger.db"
    wiring = bootstrap(Settings(store=f"sqlite:///{store}"))
    records = firm_records()
    entries = [r for r in records if r.topic == "psa.public.time_entries"]
    rest = [r for r in records if r.topic != "psa.public.time_entries"]

    # when time entries arrive before their project, and the project before its contract
    report = wiring.pipeline.run(ListSource([*entries, *rest], batch_size=5))

    # then they are parked, visible, and nothing of them is applied
    assert report.quarantined == 0 and report.parked > 0
    waits = {row.waits_for for row in wiring.parking.list()}
    assert waits == {"project:PRJ-NW-1", "contract:SOW-1042"}
    assert wiring.ledger.entity_ids("time_entry") == []
    listed = CliRunner().invoke(cli, ["--store", f"sqlite:///{store}", "parked", "list"])
    assert "contract:SOW-1042" in listed.output and "project:PRJ-NW-1" in listed.output

    # when the CRM's sow.approved webhook arrives
    applied = wiring.ledger.apply_webhook(SOW_APPROVED.read_bytes())

    # then the project and everything that waited for it are applied, in order
    assert applied.event_ids and not applied.duplicate
    assert wiring.parking.list() == []
    assert set(wiring.ledger.entity_ids("project")) == {"PRJ-NW-1"}
    assert set(wiring.ledger.entity_ids("time_entry")) == {"TE-1", "TE-2", "TE-3", "TE-4", "TE-5"}
    assert wiring.ledger.load(TimeEntry, "TE-2").state == "approved"  # r, then its u
    assert wiring.ledger.load(TimeEntry, "TE-4").withdrawn
    assert [e["event"] for e in history(wiring.ledger, "time_entry:TE-2")] == [
        "Captured",
        "Approved",
    ]
    wiring.close()


def test_a_later_change_waits_behind_the_parked_change_of_the_same_row(tmp_path: Path) -> None:
    wiring = ledger(tmp_path / "ledger.db")
    records = firm_records()
    read = next(r for r in records if entity(r) == ("time_entries", "TE-2", "r"))
    update = lone(next(r for r in records if entity(r) == ("time_entries", "TE-2", "u")))
    project = next(r for r in records if entity(r) == ("projects", "PRJ-NW-1", "r"))

    # the snapshot read parks (no project yet); the project and the update follow in the batch
    report = wiring.pipeline.run(ListSource([read, project, update]))

    assert report.parked == 2 and report.released == 2 and wiring.parking.list() == []
    assert wiring.ledger.load(TimeEntry, "TE-2").state == "approved"
    assert [e["event"] for e in history(wiring.ledger, "time_entry:TE-2")] == [
        "Captured",
        "Approved",
    ]


def test_parked_records_age_out_into_quarantine_and_replay_once_the_dependency_came(
    tmp_path: Path,
) -> None:
    store = tmp_path / "ledger.db"
    records = firm_records()
    read = next(r for r in records if entity(r) == ("time_entries", "TE-1", "r"))
    project = next(r for r in records if entity(r) == ("projects", "PRJ-NW-1", "r"))
    wiring = ledger(store)
    wiring.pipeline.run(ListSource([read]))
    assert len(wiring.parking.list()) == 1
    wiring.close()

    def psledger(*args: str) -> str:
        result = CliRunner().invoke(
            cli,
            ["--store", f"sqlite:///{store}", *args],
            env={"PSLEDGER_PARK_MAX_AGE_SECONDS": "0"},
        )
        assert result.exit_code == 0, result.output
        return result.output

    assert "1 parked records moved to quarantine" in psledger("parked", "expire")
    assert "nothing parked" in psledger("parked", "list")
    (row,) = orjson.loads(psledger("quarantine", "list", "--format", "json"))
    assert row["reason"] == "parked_too_long" and "project PRJ-NW-1" in row["detail"]

    # the project arrives; the aged-out record is replayed by the operator
    wiring = ledger(store)
    wiring.pipeline.run(ListSource([project]))
    assert wiring.ledger.entity_ids("time_entry") == []  # not released from quarantine
    wiring.close()
    assert "applied" in psledger("quarantine", "replay", row["id"])
    wiring = ledger(store)
    assert wiring.ledger.load(TimeEntry, "TE-1").state == "approved"
    assert wiring.quarantine.list() == []
    wiring.close()


def test_a_unit_re_parked_on_another_dependency_is_released_when_that_arrives(
    tmp_path: Path,
) -> None:
    """The demo's January file before the CRM contracts: units first wait for a
    project, then (the project in) for something else; each must wait for what
    it lacks now, and all must apply once the contracts are in."""
    from cdc.sources import FileChangeSource
    from psledger.demo import firm
    from psledger.demo.run import reference_webhook, write_january

    # given the PSA's January changes ingested before any CRM contract
    wiring = bootstrap(Settings(store=f"sqlite:///{tmp_path}/ledger.db"))
    january = tmp_path / "psa-2026-01.jsonl"
    write_january(january)
    first = wiring.pipeline.run(FileChangeSource([january]))
    assert first.parked > 0 and first.quarantined == 0

    # when the contracts and workers arrive
    for name in (
        "crm.sow.approved.json",
        "crm.sow.approved.fixed_price.json",
        "crm.sow.approved.retainer.json",
    ):
        wiring.ledger.apply_webhook(reference_webhook(name))
    for body in firm.worker_webhooks():
        wiring.ledger.apply_webhook(body)

    # then nothing stays parked, and the ledger holds what the other order gives
    assert wiring.parking.list() == []
    other = bootstrap(Settings(store=f"sqlite:///{tmp_path}/other.db"))
    for name in (
        "crm.sow.approved.json",
        "crm.sow.approved.fixed_price.json",
        "crm.sow.approved.retainer.json",
    ):
        other.ledger.apply_webhook(reference_webhook(name))
    for body in firm.worker_webhooks():
        other.ledger.apply_webhook(body)
    other.pipeline.run(FileChangeSource([january]))
    for kind in ("project", "time_entry", "expense_item", "milestone", "rate_card"):
        assert wiring.ledger.entity_ids(kind) == other.ledger.entity_ids(kind), kind
    assert [i.state for i in wiring.ledger.work_items()] == [
        i.state for i in other.ledger.work_items()
    ]
    wiring.close()
    other.close()


def test_an_item_with_a_parked_change_waits_in_pending_source_change(tmp_path: Path) -> None:
    """TE-1 is approved at 8.00 h; a later source transaction changes it to
    3.00 h together with a project of a contract the ledger lacks, so the
    whole transaction is parked. Billing must not invoice TE-1 at 8.00 h."""
    from dataclasses import replace

    from domain import commands as c
    from domain.provenance import Provenance
    from psledger.inbox import Inbound

    # given the firm, with TE-1 approved
    wiring = ledger(tmp_path / "ledger.db")
    wiring.pipeline.run(ListSource(firm_records()))
    te1 = wiring.ledger.load(TimeEntry, "TE-1")
    assert te1.state == "approved" and str(te1.fields["hours"]) == "8.00"

    # when its later change arrives in a transaction that waits for another contract
    psa = Provenance("psa", "public.time_entries:TE-1:u:99999", lsn=99_999_999, tx_id="9001")
    change = c.SyncWorkItem(
        "time_entry", "TE-1", {**te1.fields, "hours": Decimal("3.00")}, "approved",
        "pm.lee", None, psa,
    )  # fmt: skip
    project = c.SyncProject(
        "PRJ-LATE", {"contract_id": "SOW-LATE", "name": "Late", "legal_entity": "GB01",
                     "project_manager": "pm.lee", "status": "active"},
        replace(psa, record_id="public.projects:PRJ-LATE:c:99999"),
    )  # fmt: skip
    unit = Inbound(
        "tx 9001", "psa.public.time_entries", 0, 9001, b"{}",
        commands=[change, project], dedup_keys=["test:tx-9001"],
    )  # fmt: skip
    assert wiring.inbox.apply([unit]).parked == 1

    # then billing holds TE-1 with the exception pending_source_change, and bills the rest
    outcome = wiring.ledger.bill("2026-01")
    assert outcome.exceptions.get("pending_source_change") == 1
    te1 = wiring.ledger.load(TimeEntry, "TE-1")
    assert te1.state == "approved"
    assert te1.exception is not None and te1.exception["code"] == "pending_source_change"
    billed = {line.get("item_id") for inv in wiring.ledger.invoices() for line in inv.lines}
    assert "TE-1" not in billed and "TE-3" in billed
    listed = CliRunner().invoke(
        cli,
        ["--store", f"sqlite:///{tmp_path / 'ledger.db'}", "items", "--exception",
         "pending_source_change"],
    )  # fmt: skip
    assert "TE-1" in listed.output
    wiring.close()
