"""`psledger serve` as an operator starts it: a subprocess on a loopback port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from live_http import Credentials, envelope, signed_headers
from support.ports import free_port

PSLEDGER = Path(sys.executable).with_name("psledger")


def run_serve(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(PSLEDGER), *args],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Credentials, subprocess.Popen[str]]]:
    credentials = Credentials.fresh()
    config = credentials.write_config(tmp_path / "psledger.toml")
    for _attempt in range(3):
        port = free_port()
        process = run_serve(
            [
                "--store",
                f"sqlite:///{tmp_path}/ledger.db",
                "serve",
                "--port",
                str(port),
                "--config",
                str(config),
            ],
            {},
        )
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        if process.poll() is None:
            break
    else:
        pytest.fail("psledger serve did not start")
    try:
        yield url, credentials, process
    finally:
        process.terminate()
        process.wait(15)


def test_serve_answers_and_logs_no_secret(
    served: tuple[str, Credentials, subprocess.Popen[str]],
) -> None:
    url, credentials, process = served
    token = credentials.tokens["auditor"]
    with httpx.Client(base_url=url) as client:
        assert client.get("/invoices", headers={"authorization": f"Bearer {token}"}).json() == []
        assert client.get("/invoices", headers={"authorization": "Bearer wrong"}).status_code == 401
        assert client.post("/webhooks/crm", content=b"{}").status_code == 401
    process.terminate()
    output, _ = process.communicate(timeout=15)
    assert "GET /invoices" in output  # the access log is on
    for secret in [*credentials.tokens.values(), *credentials.all_secrets()]:
        assert secret not in output


def test_a_bad_config_file_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    secret_ish = "whsec_c2hvcnQ="  # decodes to 5 bytes: refused
    config = tmp_path / "bad.toml"
    config.write_text(f'[webhooks.crm]\nsecrets = ["{secret_ish}"]\n', encoding="utf-8")
    process = run_serve(
        ["--store", f"sqlite:///{tmp_path}/ledger.db", "serve", "--config", str(config)], {}
    )
    output, _ = process.communicate(timeout=30)
    assert process.returncode != 0
    assert output.startswith("psledger: error: config file")
    assert "Traceback" not in output
    assert secret_ish not in output


def test_secrets_from_the_environment(tmp_path: Path) -> None:
    credentials = Credentials.fresh()
    port = free_port()
    process = run_serve(
        ["--store", f"sqlite:///{tmp_path}/ledger.db", "serve", "--port", str(port)],
        {"PSLEDGER_WEBHOOK_SECRETS_HR": ",".join(credentials.secrets["crm"])},
    )
    try:
        body = envelope("worker.updated", {"worker_id": "W-1", "effective_from": "2026-01-01"})
        headers = signed_headers(body, credentials.secrets["crm"][1])
        response = None
        deadline = time.monotonic() + 30
        while response is None and time.monotonic() < deadline:
            try:
                response = httpx.post(
                    f"http://127.0.0.1:{port}/webhooks/hr", content=body, headers=headers, timeout=5
                )
            except httpx.TransportError:
                time.sleep(0.1)
        assert response is not None and response.status_code == 202
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert "no API tokens configured" in output
    assert "no webhook secret for crm" in output
