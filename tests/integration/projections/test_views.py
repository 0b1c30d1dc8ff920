"""Invoices and work items are read from materialised views that a rebuild,
a kill and a resume leave exactly as the replay of every aggregate gives them."""

from __future__ import annotations

import signal

from views_support import (
    answered,
    execute,
    psledger,
    psledger_process,
    replayed,
    status,
    view_rows,
)


def test_the_views_answer_what_replaying_every_aggregate_gave(demo_store: str) -> None:
    # given the billed demo, whose views have never been read
    assert all(s["lag"] > 0 for s in status(demo_store).values())
    # when invoices and items are asked for, then they catch up and answer as the replay did
    assert answered(demo_store) == replayed(demo_store)
    views = status(demo_store)
    assert {s["lag"] for s in views.values()} == {0}
    assert {s["position"] for s in views.values()} == {views["invoices"]["last_notification_id"]}


def test_one_invoice_comes_from_the_invoices_view(demo_store: str) -> None:
    listed = psledger(demo_store, "invoices", "--format", "json").output
    first = listed.split('"number": "', 1)[1].split('"', 1)[0]
    shown = psledger(demo_store, "invoice", first).output
    assert f'"number": "{first}"' in shown
    assert shown.strip() in listed.replace("\n  ", "\n")


def test_invoices_and_items_are_read_from_the_views_not_the_aggregates(demo_store: str) -> None:
    # given views caught up, then emptied behind the runner's back (positions kept)
    psledger(demo_store, "projections", "rebuild")
    execute(demo_store, "DELETE FROM psledger_view_invoices")
    execute(demo_store, "DELETE FROM psledger_view_items")
    # then the answers are empty: they come from the views
    assert psledger(demo_store, "invoices", "--format", "json").output == "[]\n"
    assert psledger(demo_store, "items", "--format", "json").output == "[]\n"
    # and a rebuild of the two views brings them back as the replay gives them
    psledger(demo_store, "projections", "rebuild", "invoices", "items")
    assert answered(demo_store, "--no-catch-up") == replayed(demo_store)


def test_a_rebuild_prints_byte_for_byte_what_was_printed_before(demo_store: str) -> None:
    before = answered(demo_store)
    rows = view_rows(demo_store)
    out = psledger(demo_store, "projections", "rebuild").output
    assert out.startswith("rebuilt invoices, items, lineage, entities: ")
    assert answered(demo_store, "--no-catch-up") == before == replayed(demo_store)
    assert view_rows(demo_store) == rows
    assert {s["lag"] for s in status(demo_store).values()} == {0}


def test_a_rebuild_killed_mid_way_is_finished_by_running_it_again(demo_store: str) -> None:
    # given views built once: the rows a clean rebuild gives
    psledger(demo_store, "projections", "rebuild")
    clean = view_rows(demo_store)
    # when a rebuild is SIGKILLed after its third view page committed
    code = psledger_process(demo_store, "projections", "rebuild", fault="view_page_committed:3")
    assert code == -signal.SIGKILL
    halfway = status(demo_store)
    assert any(s["rebuilding"] for s in halfway.values())
    assert view_rows(demo_store) != clean
    # then running it again resumes it and ends with the same rows
    assert psledger_process(demo_store, "projections", "rebuild") == 0
    assert view_rows(demo_store) == clean
    assert not any(s["rebuilding"] or s["lag"] for s in status(demo_store).values())


def test_a_read_killed_while_catching_up_never_applies_a_page_twice(demo_store: str) -> None:
    # when the first catch-up is killed after two pages, and the next read finishes it
    code = psledger_process(demo_store, "items", fault="view_page_committed:2")
    assert code == -signal.SIGKILL
    assert answered(demo_store) == replayed(demo_store)
    after = view_rows(demo_store)
    # then its rows are those of a rebuild from nothing
    psledger(demo_store, "projections", "rebuild")
    assert view_rows(demo_store) == after


def test_an_unknown_view_is_one_line(demo_store: str) -> None:
    from click.testing import CliRunner

    from psledger.cli import cli

    result = CliRunner().invoke(cli, ["--store", demo_store, "projections", "rebuild", "nope"])
    assert result.exit_code != 0
    assert "no view named nope; the views are invoices, items, lineage, entities" in result.output
