"""Signed deliveries of mangled webhook bodies never get a 500.

schemathesis cannot sign, so its webhook requests stop at 401; here
Hypothesis mangles the reference bodies (fields removed, replaced by values
of other types, odd types and envelopes), signs them properly and checks the
answer is 202, 409 or 422 with the JSON error shape, and that every 422
body is quarantined.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from live_http import LiveServer, reference_body

BODIES = {
    "crm": ["crm.sow.approved", "crm.sow.amended", "crm.sow.approved.retainer"],
    "hr": ["hr.worker.updated"],
    "erp": ["erp.invoice.posted", "erp.invoice.rejected"],
}
TYPES = [
    "sow.approved",
    "sow.amended",
    "worker.updated",
    "invoice.posted",
    "invoice.rejected",
    "x.unknown",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.sampled_from(["", "2026-01-01", "2026-02-30", "1e400", "-1", "NaN", "9" * 40]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@st.composite
def mangled(draw: st.DrawFn) -> tuple[str, bytes]:
    source = draw(st.sampled_from(sorted(BODIES)))
    body: dict[str, Any] = json.loads(reference_body(draw(st.sampled_from(BODIES[source]))))
    body["id"] = f"evt_{uuid.uuid4().hex[:10]}"
    target = body["data"] if draw(st.booleans()) else body
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        key = draw(st.sampled_from(sorted(target) or ["extra"]))
        action = draw(st.sampled_from(["drop", "replace", "replace"]))
        if action == "drop":
            target.pop(key, None)
        else:
            target[key] = draw(values)
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        body["type"] = draw(st.sampled_from(TYPES))
    if draw(st.integers(min_value=0, max_value=19)) == 0:
        return source, json.dumps(draw(values)).encode()
    return source, json.dumps(body).encode()


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=mangled())
def test_signed_mangled_bodies_are_answered_without_a_server_error(
    shared_server: LiveServer, delivery: tuple[str, bytes]
) -> None:
    source, body = delivery
    delivery_id = f"fuzz-{uuid.uuid4().hex}"
    response = shared_server.deliver(source, body, delivery_id=delivery_id)
    assert response.status_code in (202, 409, 422), response.text
    if response.status_code != 202:
        answer = response.json()
        assert isinstance(answer["error"], str) and isinstance(answer["detail"], str)
    if response.status_code == 422:
        assert quarantined(shared_server, source, delivery_id, body)


def quarantined(server: LiveServer, source: str, delivery_id: str, body: bytes) -> bool:
    """The body is in quarantine: under this delivery id, or under an earlier
    one when the same bytes were quarantined before (rows are kept once per
    source and content)."""
    with server.client("operator") as client:
        rows = [r for r in client.get("/quarantine").json() if r["source"] == f"webhook:{source}"]
        if delivery_id in {row["record_key"] for row in rows}:
            return True
        raws = (client.get(f"/quarantine/{row['id']}").json()["raw_base64"] for row in rows)
        return base64.b64encode(body).decode() in raws
