"""Webhook numbers are held to documented limits (pydantic constraints on the
models), and NUL is refused in the delivery id and in every string, each with
a reason code and a message naming the webhook, the field and the value."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from cdc.webhooks import WebhookInvalid, parse_webhook
from domain import commands as c

REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"


def body(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads((REFERENCE / f"{name}.json").read_bytes())
    return doc


def refusal(doc: dict[str, Any], **kw: Any) -> WebhookInvalid:
    with pytest.raises(WebhookInvalid) as caught:
        parse_webhook(orjson.dumps(doc), **kw)
    assert "\x00" not in str(caught.value)  # storable as text
    return caught.value


def sow(**data: Any) -> dict[str, Any]:
    doc = body("crm.sow.approved")
    doc["data"].update(data)
    return doc


@pytest.mark.parametrize("name", [p.stem for p in sorted(REFERENCE.glob("*.json"))])
def test_every_reference_webhook_still_parses(name: str) -> None:
    _envelope, command = parse_webhook(orjson.dumps(body(name)))
    assert isinstance(command, c.Command)


def test_a_markup_of_1e50_percent_is_out_of_range_naming_webhook_field_and_value() -> None:
    error = refusal(sow(expense_markup_pct="1E+50"))
    assert error.reason == "value_out_of_range"
    message = str(error)
    assert "evt_crm_000184" in message and "data.expense_markup_pct" in message
    assert "1E+50" in message
    assert error.errors == [
        {
            "field": "data.expense_markup_pct",
            "message": "Input should be less than or equal to 1000 (got '1E+50')",
        }
    ]


@pytest.mark.parametrize(
    "data, reason, field",
    [
        ({"expense_markup_pct": "-5"}, "value_out_of_range", "data.expense_markup_pct"),
        ({"expense_markup_pct": "1000.00001"}, "bad_scale", "data.expense_markup_pct"),
        ({"expense_markup_pct": "NaN"}, "decimal_nan", "data.expense_markup_pct"),
        ({"expense_markup_pct": "Infinity"}, "decimal_nan", "data.expense_markup_pct"),
        ({"not_to_exceed": "1E+12"}, "value_out_of_range", "data.not_to_exceed"),
        ({"not_to_exceed": "-1"}, "value_out_of_range", "data.not_to_exceed"),
        ({"not_to_exceed": "60000.0001"}, "bad_scale", "data.not_to_exceed"),
        (
            {"milestones": [{"milestone_id": "MS-1", "amount": "1E+40"}]},
            "value_out_of_range",
            "data.milestones.0.amount",
        ),
        (
            {"milestones": [{"milestone_id": "MS-1", "amount": "0"}]},
            "value_out_of_range",
            "data.milestones.0.amount",
        ),
        (
            {"retainer": {"monthly_fee": "20000.00", "included_hours": "1E+30"}},
            "value_out_of_range",
            "data.retainer.included_hours",
        ),
        (
            {"retainer": {"monthly_fee": "20000.0001", "included_hours": "100.00"}},
            "bad_scale",
            "data.retainer.monthly_fee",
        ),
    ],
)
def test_sow_money_and_percentages_are_held_to_their_limits(
    data: dict[str, Any], reason: str, field: str
) -> None:
    error = refusal(sow(**data))
    assert error.reason == reason
    assert error.errors[0]["field"] == field
    assert field in str(error)


@pytest.mark.parametrize("value", ["0", "1000", "12.5", "999.9999", "0.0000", "1E+2"])
def test_markups_within_0_to_1000_percent_are_accepted(value: str) -> None:
    _envelope, command = parse_webhook(orjson.dumps(sow(expense_markup_pct=value)))
    assert isinstance(command, c.ApproveSow)


@pytest.mark.parametrize(
    "cost_rate, reason",
    [("1E+9", "value_out_of_range"), ("-0.01", "value_out_of_range"), ("68.00001", "bad_scale")],
)
def test_worker_cost_rates_are_below_1e9_with_four_places(cost_rate: str, reason: str) -> None:
    doc = body("hr.worker.updated")
    doc["data"]["cost_rate"] = cost_rate
    error = refusal(doc)
    assert error.reason == reason and cost_rate in str(error)


def test_an_amendment_cannot_change_a_term_to_an_out_of_range_number() -> None:
    doc = body("crm.sow.amended")
    doc["data"]["changes"]["not_to_exceed"] = "1E+50"
    error = refusal(doc)
    assert error.reason == "value_out_of_range"
    assert error.errors[0]["field"] == "data.changes.not_to_exceed"
    doc["data"]["changes"] = {"expense_markup_pct": "12.34567"}
    assert refusal(doc).reason == "bad_scale"


def test_errors_of_several_kinds_keep_the_general_reason() -> None:
    doc = body("hr.worker.updated")
    doc["data"]["cost_rate"] = "-5"
    del doc["data"]["effective_from"]
    error = refusal(doc)
    assert error.reason == "invalid_webhook"
    assert {e["field"] for e in error.errors} == {"data.cost_rate", "data.effective_from"}


# -- NUL ------------------------------------------------------------------------------


def test_a_nul_in_the_delivery_id_is_refused_before_the_body_is_read() -> None:
    error = refusal(body("hr.worker.updated"), delivery_id="msg\x001")
    assert error.reason == "nul_byte"
    assert error.errors[0]["field"] == "webhook-id"
    assert "'msg\\x001'" in str(error)


def test_a_nul_in_the_body_id_which_is_the_delivery_id_without_a_header_is_refused() -> None:
    doc = body("hr.worker.updated")
    doc["id"] = "evt\x00hr"
    error = refusal(doc)
    assert error.reason == "nul_byte" and error.errors[0]["field"] == "id"


@pytest.mark.parametrize(
    "where, change, field",
    [
        (
            "crm.sow.approved",
            lambda d: d["data"]["customer"].update(name="North\x00wind"),
            "data.customer.name",
        ),
        ("crm.sow.approved", lambda d: d.update(actor="jdoe\x00"), "actor"),
        (
            "crm.sow.amended",
            lambda d: d["data"]["changes"].update(po_number="PO\x00"),
            "data.changes.po_number",
        ),
        ("erp.invoice.rejected", lambda d: d["data"].update(reason="bad\x00"), "data.reason"),
        ("hr.worker.updated", lambda d: d["data"].update(ignored=["ok", "\x00"]), "data.ignored.1"),
    ],
)
def test_a_nul_in_any_string_of_the_body_is_refused(where: str, change: Any, field: str) -> None:
    doc = copy.deepcopy(body(where))
    change(doc)
    error = refusal(doc)
    assert error.reason == "nul_byte"
    assert error.errors[0]["field"] == field and field in str(error)


def test_a_nul_in_a_key_of_the_body_is_refused() -> None:
    doc = body("hr.worker.updated")
    doc["data"]["na\x00me"] = "x"
    assert refusal(doc).reason == "nul_byte"
