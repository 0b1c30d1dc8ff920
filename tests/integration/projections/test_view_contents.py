"""What the lineage index, the entity index and the operations figures hold,
and that the library's one-event `process_event` writes what paged catch-up
writes."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict

import orjson
from eventsourcing.persistence import Tracking
from views_support import drop_every_view, psledger, view_rows

from projections.read.rows import invoice_row
from projections.read.writes import ViewWrites
from psledger import queries, queries_views
from psledger.bootstrap import bootstrap
from psledger.ops import figures
from psledger.queries_views import ViewReader
from psledger.settings import Settings


def test_every_billed_line_leads_to_its_item_and_the_events_that_billed_it(
    demo_store: str,
) -> None:
    psledger(demo_store, "projections", "rebuild")
    wiring = bootstrap(Settings(store=demo_store))
    try:
        app, p = wiring.app, wiring.app.tables.d.placeholder
        for invoice in queries.find_invoices(wiring.ledger):
            billed = sorted(
                (line["line_no"], line["item_kind"], line["item_id"])
                for line in invoice.lines
                if line.get("item_id")
            )
            indexed = app.fetch(
                "SELECT line_no, item_kind, item_id FROM psledger_view_lineage "
                f"WHERE number = {p} ORDER BY line_no",
                [invoice.business_id],
            )
            assert [tuple(r) for r in indexed] == billed
            for _, kind, item_id in billed:
                events = app.fetch(
                    "SELECT version, event, document, provenance FROM psledger_view_item_events "
                    f"WHERE item_kind = {p} AND item_id = {p} ORDER BY version",
                    [kind, item_id],
                )
                assert [int(r[0]) for r in events] == list(range(1, len(events) + 1))
                assert all(orjson.loads(r[3])["source_system"] for r in events)
                if invoice.kind == "invoice":
                    assert ("Invoiced", invoice.business_id) in {(r[1], r[2]) for r in events}
    finally:
        wiring.close()


def test_the_entity_index_and_the_readiness_figures_agree_with_the_items(demo_store: str) -> None:
    items = orjson.loads(psledger(demo_store, "items", "--format", "json").output)
    wiring = bootstrap(Settings(store=demo_store))
    try:
        app = wiring.app
        entities = {(r[0], r[1]): r[2] for r in app.fetch("SELECT * FROM psledger_view_entities")}
        readiness = figures.readiness(app)
    finally:
        wiring.close()
    states: dict[str, Counter[str]] = defaultdict(Counter)
    exceptions: dict[str, Counter[str]] = defaultdict(Counter)
    for item in items:
        contract = entities.get(("project", item["project_id"])) or "-"
        states[contract][item["state"]] += 1
        if item["exception"]:
            exceptions[contract][item["exception"]["code"]] += 1
    assert readiness == [
        {"contract": c, "states": dict(states[c]), "exceptions": dict(exceptions[c])}
        for c in sorted(states)
    ]
    assert all(entities[(i["kind"], i["id"])] == i["project_id"] for i in items)


def test_an_invoice_summary_is_its_view_without_lines_and_counts_them(demo_store: str) -> None:
    # given the demo's invoices, credit notes and re-issues, as JSON with lines
    views = orjson.loads(psledger(demo_store, "invoices", "--format", "json").output)
    assert len(views) >= 3 and all(v["lines"] for v in views)
    # when they are listed without lines: in the table, over HTTP's query
    table = psledger(demo_store, "invoices").output
    wiring = bootstrap(Settings(store=demo_store))
    try:
        summaries = queries_views.invoice_rows(wiring.app, "summary")
        counted = list(ViewReader(wiring.app).invoice_summaries())
    finally:
        wiring.close()
    # then each summary is the view less its lines, in the same order, and
    # the table shows every invoice's line count
    assert summaries == [{k: v for k, v in view.items() if k != "lines"} for view in views]
    assert [c.pop("line_count") for c in counted] == [len(v["lines"]) for v in views]
    assert counted == summaries
    for view in views:
        row = next(line for line in table.splitlines() if line.startswith(view["number"] + " "))
        assert row.split()[-1] == str(len(view["lines"])), row


def test_one_event_at_a_time_through_process_event_writes_what_pages_write(
    demo_store: str,
) -> None:
    psledger(demo_store, "projections", "rebuild")
    paged = view_rows(demo_store)
    wiring = bootstrap(Settings(store=demo_store))
    try:
        read_side = wiring.read_side
        drop_every_view(read_side)
        for notification in wiring.app.recorder.select_notifications(1, 100_000):
            event = wiring.app.mapper.to_domain_event(notification)
            for view in read_side.views.values():
                view.process_event(event, Tracking("psledger", notification.id))
    finally:
        wiring.close()
    assert view_rows(demo_store) == paged


def test_two_processes_catching_up_at_once_apply_each_page_once(demo_store: str) -> None:
    wirings = [bootstrap(Settings(store=demo_store)) for _ in range(2)]
    errors: list[BaseException] = []

    def catch_up(n: int) -> None:
        try:
            wirings[n].read_side.catch_up()
        except BaseException as exc:  # the test reports it
            errors.append(exc)

    threads = [threading.Thread(target=catch_up, args=(n,)) for n in range(2)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        for w in wirings:
            w.close()
    assert errors == []
    both = view_rows(demo_store)
    psledger(demo_store, "projections", "rebuild")
    assert view_rows(demo_store) == both


def test_a_page_for_a_view_dropped_meanwhile_is_not_written(demo_store: str) -> None:
    # given a runner that read the invoices view at its position, then a rebuild dropped it
    wiring = bootstrap(Settings(store=demo_store))
    try:
        read_side = wiring.read_side
        read_side.catch_up()
        view = read_side.views["invoices"]
        seen = view.position()
        read_side.recorder.drop("invoices", [view.tracking_name])
        writes = ViewWrites()
        invoice = queries.find_invoices(wiring.ledger)[0]
        row = invoice_row(invoice, seen + 1)
        writes.upsert("psledger_view_invoices", row[:1], row)
        # when the runner writes its next page, expecting the view where it saw it
        tracking = Tracking(view.tracking_name, seen + 1)
        written = read_side.recorder.write("invoices", writes, tracking, expected=seen)
        # then nothing is written: neither the row nor the position
        assert written is False
        assert view.position() == 0
        assert wiring.app.fetch("SELECT COUNT(*) FROM psledger_view_invoices")[0][0] == 0
        # and a runner that finds the view there from the start writes it
        assert read_side.recorder.write("invoices", writes, tracking, expected=0) is True
        assert view.position() == seen + 1
    finally:
        wiring.close()
