"""schemathesis against the served OpenAPI document finds no 500 (and the
answers match the documented statuses and schemas).

The run is bounded (examples per operation, a time budget) and uses a token
with every role, so it gets past authorization; webhook deliveries it
generates are unsigned and must be refused cleanly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_http import Credentials, LiveServer, build_january, serve

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
    ]
)


@pytest.fixture(scope="module")
def firm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A ledger with data in it, so list and detail answers have bodies to check."""
    tmp = tmp_path_factory.mktemp("schemathesis")
    credentials = Credentials.fresh()
    config = credentials.write_config(tmp / "psledger.toml")
    store = f"sqlite:///{tmp}/ledger.db"
    with serve(store, credentials, config) as server:
        build_january(server, tmp, store)
        yield server


def test_schemathesis_finds_no_server_error(firm_server: LiveServer, tmp_path: Path) -> None:
    shared_server = firm_server
    token = shared_server.credentials.tokens["all"]
    command = [
        str(SCHEMATHESIS),
        "run",
        f"{shared_server.url}/openapi.json",
        "--checks",
        CHECKS,
        "--max-examples",
        "100",
        "--phases",
        "examples,coverage,fuzzing",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--header",
        f"Authorization: Bearer {token}",
        "--suppress-health-check",
        "all",
        "--no-color",
    ]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "", "HYPOTHESIS_STORAGE_DIRECTORY": str(tmp_path)}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path
    )
    output = (done.stdout + done.stderr).replace(token, "<token>")
    assert done.returncode == 0, output[-8000:]
