"""Standard Webhooks verification: given a delivery, when verified, then the
key that matched or the reason it was refused."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from psledger.http.config import WebhookKey, decode_secret
from psledger.http.signatures import SignatureRefused, sign, verify

NOW = 1_780_000_000
BODY = b'{"type": "worker.updated"}'


def secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def key(text: str, key_id: str = "k") -> WebhookKey:
    return WebhookKey(key_id, decode_secret(text, "test"))


def headers(
    text: str, body: bytes = BODY, *, msg_id: str = "msg_1", at: int = NOW
) -> dict[str, str]:
    when = datetime.fromtimestamp(at, UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(at),
        "webhook-signature": Webhook(text).sign(msg_id, when, body.decode()),
    }


def refused(code: str, *args: object, **kwargs: object) -> None:
    with pytest.raises(SignatureRefused) as caught:
        verify(*args, **kwargs)  # type: ignore[arg-type]
    assert caught.value.code == code


def test_a_signature_made_by_the_library_verifies_and_names_the_key() -> None:
    s = secret()
    verified = verify(headers(s), BODY, [key(s, "crm-1")], now=NOW, tolerance=300)
    assert (verified.delivery_id, verified.timestamp, verified.key_id) == ("msg_1", NOW, "crm-1")


def test_our_signature_matches_the_librarys() -> None:
    s = secret()
    ours = sign(decode_secret(s, "test"), "msg_1", NOW, BODY)
    assert ours == headers(s)["webhook-signature"]


def test_any_of_the_rotated_secrets_verifies() -> None:
    old, new = secret(), secret()
    keys = [key(old, "old"), key(new, "new")]
    assert verify(headers(old), BODY, keys, now=NOW, tolerance=300).key_id == "old"
    assert verify(headers(new), BODY, keys, now=NOW, tolerance=300).key_id == "new"


def test_one_of_several_signatures_in_the_header_may_match() -> None:
    s = secret()
    h = headers(s)
    h["webhook-signature"] = f"v1,AAAA v2,zzz {h['webhook-signature']}"
    assert verify(h, BODY, [key(s)], now=NOW, tolerance=300)


def test_a_wrong_secret_a_tampered_body_and_another_id_are_refused() -> None:
    s = secret()
    refused("bad_signature", headers(secret()), BODY, [key(s)], now=NOW, tolerance=300)
    refused("bad_signature", headers(s), BODY + b" ", [key(s)], now=NOW, tolerance=300)
    other = {**headers(s), "webhook-id": "msg_2"}
    refused("bad_signature", other, BODY, [key(s)], now=NOW, tolerance=300)


@pytest.mark.parametrize("offset", [-301, 301, -(10**6), 10**6])
def test_outside_the_tolerance_either_way_is_refused(offset: int) -> None:
    s = secret()
    refused("stale_signature", headers(s, at=NOW + offset), BODY, [key(s)], now=NOW, tolerance=300)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_at_the_edge_of_the_tolerance_is_accepted(offset: int) -> None:
    s = secret()
    assert verify(headers(s, at=NOW + offset), BODY, [key(s)], now=NOW, tolerance=300)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_a_missing_header_is_refused(missing: str) -> None:
    s = secret()
    h = headers(s)
    del h[missing]
    refused("missing_signature", h, BODY, [key(s)], now=NOW, tolerance=300)


@pytest.mark.parametrize(
    "changes",
    [
        {"webhook-timestamp": "1780000000.0"},
        {"webhook-timestamp": "nan"},
        {"webhook-timestamp": "-5"},
        {"webhook-timestamp": "9" * 40},
        {"webhook-id": "has space"},
        {"webhook-id": "x" * 201},
        {"webhook-signature": "v1"},
        {"webhook-signature": "v1,not base64!"},
        {"webhook-signature": ",,,"},
    ],
)
def test_malformed_headers_are_refused_not_raised(changes: dict[str, str]) -> None:
    s = secret()
    with pytest.raises(SignatureRefused):
        verify({**headers(s), **changes}, BODY, [key(s)], now=NOW, tolerance=300)


def test_a_body_that_is_not_utf8_is_verified_as_bytes() -> None:
    s = secret()
    body = b"\xff\xfe\x00"
    raw_key = decode_secret(s, "test")
    h = {
        "webhook-id": "m",
        "webhook-timestamp": str(NOW),
        "webhook-signature": sign(raw_key, "m", NOW, body),
    }
    assert verify(h, body, [key(s)], now=NOW, tolerance=300)


def test_no_configured_secret_refuses_everything() -> None:
    refused("bad_signature", headers(secret()), BODY, [], now=NOW, tolerance=300)


def test_a_refusal_never_names_the_secret() -> None:
    s = secret()
    with pytest.raises(SignatureRefused) as caught:
        verify(headers(secret()), BODY, [key(s)], now=NOW, tolerance=300)
    assert s not in str(caught.value) and s[6:] not in str(caught.value)
    assert "bytes" not in repr(key(s))  # the key is hidden from repr
    assert s[6:] not in repr(key(s))
