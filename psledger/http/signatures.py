"""Standard Webhooks signature verification.

A delivery carries ``webhook-id``, ``webhook-timestamp`` (Unix seconds) and
``webhook-signature``: space-separated ``v1,<base64 HMAC-SHA256>`` entries,
each over ``"{id}.{timestamp}.{body}"``. A delivery is accepted when one
entry matches one of the source's secrets (several during a rotation) and the
timestamp is within the tolerance of now, in either direction.

This is written here rather than calling `standardwebhooks.Webhook.verify`
(the tests sign with that library, so the two are checked against each
other) because that method decodes the body as UTF-8 (a non-UTF-8 body
raises instead of being refused), raises ValueError or binascii.Error on a
malformed signature header, accepts fractional timestamps it then signs
differently, takes one secret at a time and does not say which secret
matched; the key id of the match goes into each event's provenance.
Comparisons are constant-time (`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from psledger.http.config import WebhookKey

MAX_ID_LENGTH = 200
MAX_SIGNATURES = 10
_ID = re.compile(rf"[\x21-\x7e]{{1,{MAX_ID_LENGTH}}}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class SignatureRefused(Exception):
    """Why a delivery's signature was refused; the message names no secret."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Verified:
    delivery_id: str
    timestamp: int
    key_id: str


def sign(key: bytes, delivery_id: str, timestamp: int, body: bytes) -> str:
    """The `v1,<base64>` signature of a delivery (for clients and tests)."""
    mac = hmac.new(key, f"{delivery_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode("ascii")


def _signatures(header: str) -> list[bytes]:
    found: list[bytes] = []
    for entry in header.split()[:MAX_SIGNATURES]:
        version, sep, encoded = entry.partition(",")
        if not sep or version != "v1":
            continue
        try:
            found.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def verify(
    headers: Mapping[str, str],
    body: bytes,
    keys: Sequence[WebhookKey],
    *,
    now: float,
    tolerance: int,
) -> Verified:
    """Check a delivery's signature; the key that matched, or SignatureRefused."""
    delivery_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    header = headers.get("webhook-signature")
    if not delivery_id or not stamp or not header:
        raise SignatureRefused(
            "missing_signature",
            "webhook-id, webhook-timestamp and webhook-signature headers are required",
        )
    if not _ID.fullmatch(delivery_id):
        raise SignatureRefused(
            "bad_signature", f"webhook-id must be 1-{MAX_ID_LENGTH} printable ASCII characters"
        )
    if not _TIMESTAMP.fullmatch(stamp):
        raise SignatureRefused("bad_signature", "webhook-timestamp must be whole Unix seconds")
    timestamp = int(stamp)
    if timestamp < now - tolerance:
        raise SignatureRefused(
            "stale_signature", f"webhook-timestamp is more than {tolerance} seconds old"
        )
    if timestamp > now + tolerance:
        raise SignatureRefused(
            "stale_signature",
            f"webhook-timestamp is more than {tolerance} seconds in the future",
        )
    if not keys:
        raise SignatureRefused("bad_signature", "no webhook secret is configured for this source")
    passed = _signatures(header)
    signed = f"{delivery_id}.{stamp}.".encode() + body
    for key in keys:
        expected = hmac.new(key.key, signed, hashlib.sha256).digest()
        if any(hmac.compare_digest(expected, candidate) for candidate in passed):
            return Verified(delivery_id, timestamp, key.key_id)
    raise SignatureRefused("bad_signature", "no signature matches a secret of this source")
