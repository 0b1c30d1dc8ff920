"""Capturing a work item: the Captured event of time entries, expenses and milestones.

Regression: WorkItem's class annotations (business_id, fields, state) once made
eventsourcing add a required `state` to every Captured event, so capture raised
TypeError (fixed in 869b22f).
"""

from __future__ import annotations

from datetime import date

import pytest
from builders import PSA, D, FakeRepo, contract, project

from domain import commands as c
from domain.expense_item import ExpenseItem
from domain.handlers import handle
from domain.milestone import Milestone
from domain.time_entry import TimeEntry
from domain.work_item import WorkItem

FIELDS: dict[type[WorkItem], dict[str, object]] = {
    TimeEntry: {
        "project_id": "P1",
        "role": "consultant",
        "work_date": date(2026, 1, 5),
        "hours": D("7.5"),
    },
    ExpenseItem: {
        "project_id": "P1",
        "amount": D("42.00"),
        "currency": "GBP",
        "incurred_on": date(2026, 1, 5),
    },
    Milestone: {"project_id": "P1", "amount": D("5000.00"), "currency": "GBP"},
}


@pytest.mark.parametrize("cls", [TimeEntry, ExpenseItem, Milestone], ids=lambda k: k.__name__)
def test_capturing_an_item_makes_a_planned_item_with_one_captured_event(
    cls: type[WorkItem],
) -> None:
    # when the PSA's record is captured
    item = cls.capture("X-1", dict(FIELDS[cls]), PSA)

    # then the item is planned, with the source's fields and one Captured event
    assert item.state == "planned"
    assert item.fields == FIELDS[cls]
    assert [type(e).__name__ for e in item.collect_events()] == ["Captured"]


def test_a_psa_time_entry_for_a_known_project_is_captured_and_approved() -> None:
    # given a contract and its project
    repo = FakeRepo(contract(), project("P1"))

    # when the PSA syncs a new approved time entry
    handle(
        c.SyncWorkItem(
            kind="time_entry",
            item_id="TE-1",
            fields=dict(FIELDS[TimeEntry]),
            status="approved",
            approved_by="pm@psa",
            approved_at=None,
            provenance=PSA,
        ),
        repo,
    )

    # then the ledger holds it, approved
    entry = repo.get(TimeEntry, "TE-1")
    assert entry is not None
    assert entry.state == "approved"
    assert entry.approved_by == "pm@psa"
