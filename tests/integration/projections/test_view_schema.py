"""A store whose lineage view is still in migration 7's shape gets the new
tables on its first read, and the view replayed into them."""

from __future__ import annotations

import orjson
from views_support import psledger

from projections.read.recorders import schema_name, view_recorder
from projections.read.tables import TRACKING_TABLE, VIEW_DDL, VIEW_SCHEMAS, VIEW_TABLES
from psledger.bootstrap import bootstrap
from psledger.settings import Settings

JANUARY = "GB01-SOW-1042-2026-01"


def put_lineage_in_its_first_shape(store: str) -> int:
    """The lineage tables as migration 7 made them, caught up to the end (as
    the code before lineage shape 2 left them); the store's last id."""
    wiring = bootstrap(Settings(store=store))
    try:
        recorder = view_recorder(wiring.app.recorder)
        last = int(wiring.app.recorder.max_notification_id() or 0)
        first_shape = [s for s in VIEW_DDL if "lineage" in s or "item_events" in s]
        p = recorder.p
        with recorder.datastore.transaction(commit=True) as c:
            for table in VIEW_TABLES["lineage"]:
                c.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in first_shape:
                c.execute(statement.format(bigint=recorder.bigint))
            for name in (schema_name("lineage"), "psledger/lineage"):
                c.execute(f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {p}", [name])
            c.execute(f"INSERT INTO {TRACKING_TABLE} VALUES ({p}, {p})", ["psledger/lineage", last])
        return last
    finally:
        wiring.close()


def test_an_old_lineage_view_is_made_anew_and_replayed_on_first_use(demo_store: str) -> None:
    # given a store whose lineage view is in its first shape, at the store's end
    last = put_lineage_in_its_first_shape(demo_store)
    # when an auditor traces an invoice
    found = orjson.loads(psledger(demo_store, "audit", "trace", JANUARY, "--format", "json").output)
    # then the view was made anew in its current shape and replayed to the end
    assert len(found["lines"]) == 42
    assert all(line["events"][-1]["event"] == "Invoiced" for line in found["lines"])
    wiring = bootstrap(Settings(store=demo_store))
    try:
        recorder = view_recorder(wiring.app.recorder)
        assert recorder.schema("lineage") == VIEW_SCHEMAS["lineage"].version == 2
        assert recorder.max_tracking_id("psledger/lineage") == last
        entries = wiring.app.fetch("SELECT entry FROM psledger_view_item_events")
        assert entries and all(orjson.loads(e)["event"] for (e,) in entries)
        # and a second process finds it in shape: it changes nothing
        assert not recorder.upgrade("lineage", VIEW_SCHEMAS["lineage"], ["psledger/lineage"])
        assert recorder.max_tracking_id("psledger/lineage") == last
    finally:
        wiring.close()


def put_invoices_in_their_first_shape(store: str) -> int:
    """The invoices table as migration 7 made it (no summary, no line count),
    caught up to the end; the store's last id."""
    wiring = bootstrap(Settings(store=store))
    try:
        recorder = view_recorder(wiring.app.recorder)
        last = int(wiring.app.recorder.max_notification_id() or 0)
        first_shape = [s for s in VIEW_DDL if "psledger_view_invoices" in s]
        rows = wiring.app.fetch(
            "SELECT number, contract_id, period, state, kind, invoice_date, currency, gross, "
            "view, erp, notification_id FROM psledger_view_invoices"
        )
        p = recorder.p
        with recorder.datastore.transaction(commit=True) as c:
            c.execute("DROP TABLE psledger_view_invoices")
            for statement in first_shape:
                c.execute(statement.format(bigint=recorder.bigint))
            for row in rows:
                c.execute(f"INSERT INTO psledger_view_invoices VALUES ({', '.join([p] * 11)})", row)
            c.execute(
                f"DELETE FROM {TRACKING_TABLE} WHERE application_name = {p}",
                [schema_name("invoices")],
            )
        return last
    finally:
        wiring.close()


def test_an_old_invoices_view_is_made_anew_and_replayed_on_first_use(demo_store: str) -> None:
    # given a store whose invoices view is in its first shape, at the store's end
    views = orjson.loads(psledger(demo_store, "invoices", "--format", "json").output)
    last = put_invoices_in_their_first_shape(demo_store)
    # when finance lists the invoices (without lines), even without a catch-up
    listed = psledger(demo_store, "invoices", "--no-catch-up").output
    assert listed.strip() == "no invoices"  # made anew: empty until caught up
    listed = psledger(demo_store, "invoices").output
    # then the view has its current shape, replayed to the end
    assert JANUARY in listed
    wiring = bootstrap(Settings(store=demo_store))
    try:
        recorder = view_recorder(wiring.app.recorder)
        assert recorder.schema("invoices") == VIEW_SCHEMAS["invoices"].version == 2
        assert recorder.max_tracking_id("psledger/invoices") == last
        counts = dict(wiring.app.fetch("SELECT number, line_count FROM psledger_view_invoices"))
        assert counts == {v["number"]: len(v["lines"]) for v in views}
    finally:
        wiring.close()
