"""A real uvicorn server on a loopback port, and signing helpers, for the HTTP tests.

`serve(store, config)` starts psledger's app with uvicorn in a background
thread against the given store, waits until it accepts connections and
stops it afterwards. Deliveries are signed with the `standardwebhooks`
library, independently of psledger's own verifier.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from standardwebhooks import Webhook
from support.ports import free_port

from psledger.http import create_app
from psledger.settings import Settings

REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"
ROLES = ("auditor", "finance", "operator")


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def _token() -> str:
    return "psl_" + base64.urlsafe_b64encode(os.urandom(24)).decode().rstrip("=")


@dataclass(frozen=True)
class Credentials:
    """Tokens per role (plus one with every role) and secrets per source."""

    tokens: dict[str, str] = field(repr=False)
    secrets: dict[str, list[str]] = field(repr=False)  # crm: [old, new] for rotation

    @classmethod
    def fresh(cls) -> Credentials:
        tokens = {role: _token() for role in (*ROLES, "all")}
        secrets = {"crm": [_secret(), _secret()], "hr": [_secret()], "erp": [_secret()]}
        return cls(tokens, secrets)

    def write_config(self, path: Path, *, max_body_bytes: int = 64 * 1024) -> Path:
        lines = ["[http]", f"max_body_bytes = {max_body_bytes}", ""]
        for user, token in self.tokens.items():
            roles = list(ROLES) if user == "all" else [user]
            digest = hashlib.sha256(token.encode()).hexdigest()
            lines += [f"[tokens.{user}]", f'sha256 = "{digest}"', f"roles = {json.dumps(roles)}"]
        for source, secrets in self.secrets.items():
            lines += [f"[webhooks.{source}]", f"secrets = {json.dumps(secrets)}"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path

    def all_secrets(self) -> list[str]:
        return [s for group in self.secrets.values() for s in group]


def signed_headers(
    body: bytes,
    secret: str,
    *,
    delivery_id: str | None = None,
    at: datetime | None = None,
) -> dict[str, str]:
    """Standard Webhooks headers for a delivery of `body`, signed with `secret`."""
    delivery_id = delivery_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    try:
        signature = Webhook(secret).sign(delivery_id, at, body.decode("utf-8"))
    except UnicodeDecodeError:  # the library signs text only; the scheme signs bytes
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = f"{delivery_id}.{math.floor(at.timestamp())}.".encode() + body
        mac = hmac.new(key, signed, hashlib.sha256).digest()
        signature = "v1," + base64.b64encode(mac).decode()
    return {
        "content-type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": signature,
    }


def reference_body(name: str) -> bytes:
    return (REFERENCE / f"{name}.json").read_bytes()


def envelope(kind: str, data: dict[str, Any], *, event_id: str | None = None) -> bytes:
    return json.dumps(
        {
            "type": kind,
            "id": event_id or f"evt_{uuid.uuid4().hex[:12]}",
            "occurred_at": "2026-02-03T11:15:42Z",
            "actor": "tests",
            "data": data,
        }
    ).encode()


@dataclass
class LiveServer:
    url: str
    credentials: Credentials

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {}
        if role is not None:
            headers["authorization"] = f"Bearer {self.credentials.tokens[role]}"
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def deliver(
        self,
        source: str,
        body: bytes,
        *,
        secret: str | None = None,
        delivery_id: str | None = None,
        at: datetime | None = None,
    ) -> httpx.Response:
        secret = secret or self.credentials.secrets[source][-1]
        headers = signed_headers(body, secret, delivery_id=delivery_id, at=at)
        with self.client() as client:
            return client.post(f"/webhooks/{source}", content=body, headers=headers)


def build_january(server: LiveServer, tmp: Path, store: str) -> list[str]:
    """The demo firm's contracts and workers by signed webhook, its January PSA
    rows by Debezium file (CDC, not HTTP), then January billed over HTTP;
    the invoice numbers."""
    from cdc.sources import FileChangeSource
    from psledger.bootstrap import bootstrap
    from psledger.demo import firm
    from psledger.demo.run import write_january

    for name in ("crm.sow.approved", "crm.sow.approved.fixed_price", "crm.sow.approved.retainer"):
        assert server.deliver("crm", reference_body(name)).status_code == 202
    for body in firm.worker_webhooks():
        assert server.deliver("hr", body).status_code == 202
    psa = tmp / "psa-2026-01.jsonl"
    write_january(psa)
    wiring = bootstrap(Settings(store=store))
    try:
        assert wiring.pipeline.run(FileChangeSource([psa])).applied > 0
    finally:
        wiring.close()
    with server.client("finance") as client:
        response = client.post("/billing-runs", json={"period": "2026-01"})
    assert response.status_code == 200, response.text
    invoices: list[str] = response.json()["invoices"]
    return invoices


@contextmanager
def serve(store: str, credentials: Credentials, config_file: Path) -> Iterator[LiveServer]:
    """psledger's app on uvicorn in a thread, on a free loopback port."""
    app = create_app(Settings(store=store, config_file=config_file))
    for _attempt in range(5):
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
        )
        thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.02)
        if server.started:
            break
        server.should_exit = True
        thread.join(10)
    else:
        raise RuntimeError("uvicorn did not start on any free port")
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", credentials)
    finally:
        server.should_exit = True
        thread.join(30)
