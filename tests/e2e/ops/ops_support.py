"""Helpers for the operations tests: the psledger CLI as a subprocess, a
real `psledger serve` on a loopback port, and a PSA file that parks one
record and quarantines another.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from support.ports import free_port

ROLES = ("operator", "finance", "auditor")


def cli(*args: str, env: dict[str, str] | None = None, check: bool = True) -> Any:
    """Run `psledger ARGS` in a fresh process; its CompletedProcess."""
    done = subprocess.run(
        [sys.executable, "-m", "psledger", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def cli_json(store: str, *args: str) -> Any:
    return json.loads(cli("--store", store, *args).stdout)


def parking_and_quarantine_file(demo_psa: Path, out: Path) -> Path:
    """One time entry of the demo moved to a project nobody knows (parked) and
    one line that is not JSON (quarantined), at new offsets."""
    for line in demo_psa.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        if record["topic"] == "psa.public.time_entries":
            break
    envelope = json.loads(record["payload"])
    after = envelope["payload"]["after"]
    after.update(id="TE-GHOST-1", project_id="PRJ-GHOST")
    envelope["payload"]["before"] = None
    envelope["payload"]["op"] = "c"
    envelope["payload"]["transaction"] = None
    key = json.loads(record["key"])
    key["payload"]["id"] = "TE-GHOST-1"
    ghost = {**record, "offset": 900001, "key": json.dumps(key), "payload": json.dumps(envelope)}
    garbage = {**record, "offset": 900002, "key": None, "payload": "{not json"}
    out.write_text(json.dumps(ghost) + "\n" + json.dumps(garbage) + "\n", encoding="utf-8")
    return out


@dataclass(frozen=True)
class DemoStore:
    url: str
    dir: Path


def make_demo_store(url: str, tmp: Path) -> DemoStore:
    """`psledger demo` into the store, then a real ingest that parks one
    record and quarantines another."""
    cli("--store", url, "demo", "--out", str(tmp / "demo"))
    extras = parking_and_quarantine_file(tmp / "demo" / "psa-2026-02.jsonl", tmp / "extras.jsonl")
    cli("--store", url, "ingest", "debezium", str(extras))
    return DemoStore(url, tmp)


@dataclass
class LiveOps:
    url: str
    tokens: dict[str, str] = field(repr=False)
    secrets: dict[str, str] = field(repr=False)
    log: Path

    def client(self, role: str | None = None) -> httpx.Client:
        headers = {"authorization": f"Bearer {self.tokens[role]}"} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)


def write_config(path: Path, tokens: dict[str, str], secrets: dict[str, str]) -> Path:
    lines: list[str] = []
    for role, token in tokens.items():
        digest = hashlib.sha256(token.encode()).hexdigest()
        lines += [f"[tokens.{role}]", f'sha256 = "{digest}"', f'roles = ["{role}"]']
    for source, secret in secrets.items():
        lines += [f"[webhooks.{source}]", f'secrets = ["{secret}"]']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@contextmanager
def serve(store: str, tmp: Path, *, log_format: str = "json") -> Iterator[LiveOps]:
    """`psledger serve` in its own process on a free port; stderr kept in a file."""
    import base64

    tokens = {role: "psl_" + os.urandom(18).hex() for role in ROLES}
    secrets = {s: "whsec_" + base64.b64encode(os.urandom(24)).decode() for s in ("crm", "hr")}
    config = write_config(tmp / "ops.toml", tokens, secrets)
    log = tmp / f"serve-{time.monotonic_ns()}.log"
    for _attempt in range(5):
        port = free_port()
        args = ["--log-format", log_format, "--store", store, "serve", "--port", str(port)]
        with log.open("w") as sink:
            proc = subprocess.Popen(
                [sys.executable, "-m", "psledger", *args, "--config", str(config)],
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        url = f"http://127.0.0.1:{port}"
        if _wait_healthy(url, proc):
            break
        proc.terminate()
        proc.wait(10)
    else:
        raise RuntimeError("psledger serve did not start: " + log.read_text())
    try:
        yield LiveOps(url, tokens, secrets, log)
    finally:
        proc.terminate()
        proc.wait(30)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    return False
