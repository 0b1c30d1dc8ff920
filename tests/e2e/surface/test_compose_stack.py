"""The compose stack would run: its files load, everything they reference is
in the repository, its psledger commands parse, and the api's config
validates. (No Docker engine runs here; this is what can be checked without.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click
import pytest
import yaml
from surface_support import ROOT, process

from psledger.cli import cli

COMPOSE = ROOT / "compose"
STACK = COMPOSE / "docker-compose.yml"


def stack() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(STACK.read_text())
    return loaded


def services() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = stack()["services"]
    return found


def inside_repo(path: Path) -> Path:
    resolved = path.resolve()
    assert resolved.is_relative_to(ROOT), f"{path} is outside the repository"
    assert resolved.exists(), f"{path} does not exist"
    return resolved


def mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> host file of the service's bind mounts."""
    found = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        assert source.startswith("."), f"{volume}: a bind mount of a repository file"
        found[target] = inside_repo(COMPOSE / source)
    return found


def test_every_compose_and_connector_file_loads() -> None:
    for path in [*COMPOSE.glob("*.yml"), *COMPOSE.glob("*.yaml")]:
        assert isinstance(yaml.safe_load(path.read_text()), dict), path
    for path in COMPOSE.glob("*.json"):
        assert isinstance(json.loads(path.read_text()), dict), path


def test_every_file_the_stack_references_is_in_the_repository() -> None:
    for service in services().values():
        mounts(service)
        build = service.get("build")
        if build is None:
            continue
        context = inside_repo(COMPOSE / build["context"])
        dockerfile = inside_repo(context / build.get("dockerfile", "Dockerfile"))
        for line in dockerfile.read_text().splitlines():
            if line.startswith("COPY "):
                for source in line.split()[1:-1]:
                    inside_repo(context / source)


def test_the_stack_has_every_part_wired_to_the_others() -> None:
    parts = services()
    psa = parts["psa-db"]
    assert "wal_level=logical" in psa["command"]
    kafka = parts["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"]  # KRaft, no ZooKeeper
    assert "zookeeper" not in parts
    connect = parts["connect"]["environment"]
    assert connect["CONNECT_VALUE_CONVERTER"] == "io.confluent.connect.avro.AvroConverter"
    connector_file = mounts(parts["connector"])["/debezium-psa.json"]
    connector = json.loads(connector_file.read_text())
    assert connector["connector.class"] == "io.debezium.connector.postgresql.PostgresConnector"
    assert connector["database.hostname"] == "psa-db"
    for side in ("key", "value"):
        assert connector[f"{side}.converter"] == "io.confluent.connect.avro.AvroConverter"
        assert connector[f"{side}.converter.schema.registry.url"] == "http://registry:8081"
    assert "registry" in parts
    for name in ("ingest", "api"):
        env = parts[name]["environment"]
        assert env["PSLEDGER_SCHEMA_REGISTRY_URL"] == "http://registry:8081"
        assert "@ledger-db:5432/" in env["PSLEDGER_STORE"]
    topics = parts["ingest"]["command"][parts["ingest"]["command"].index("--topics") + 1]
    tables = connector["table.include.list"].split(",")
    assert set(topics.split(",")) == {f"psa.{t}" for t in tables} | {"psa.transaction"}


def psledger_commands() -> list[tuple[str, list[str]]]:
    return [
        (name, service["command"])
        for name, service in services().items()
        if isinstance(service.get("command"), list) and service["command"][0] == "psledger"
    ]


@pytest.mark.parametrize(("name", "command"), psledger_commands())
def test_every_psledger_command_of_the_stack_parses(name: str, command: list[str]) -> None:
    command_ = cli
    args = command[1:]
    ctx = cli.make_context("psledger", list(args), resilient_parsing=True)
    while isinstance(command_, click.Group):
        word, args = args[0], args[1:]
        found = command_.get_command(ctx, word)
        assert found is not None, f"{name}: no command {word!r}"
        command_ = found
    command_.make_context(word, list(args))  # unknown or missing options raise here


def test_the_api_config_passes_serve_check_config(tmp_path: Path) -> None:
    api = services()["api"]
    config = mounts(api)[api["environment"]["PSLEDGER_CONFIG_FILE"]]
    done = process(tmp_path / "ledger.db", "serve", "--check-config", "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "config OK" in done.stdout and "warning" not in done.stderr
    assert re.search(r"webhook secrets: crm 1, hr 1, erp 1", done.stdout)


def test_the_example_config_asks_for_its_placeholders_to_be_replaced(tmp_path: Path) -> None:
    example = COMPOSE / "psledger.example.toml"
    done = process(tmp_path / "ledger.db", "serve", "--check-config", "--config", str(example))
    assert done.returncode == 1
    assert "replace the placeholder 'whsec_REPLACE_ME'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_without_tokens_serve_says_how_to_configure_them(tmp_path: Path) -> None:
    done = process(tmp_path / "ledger.db", "serve", "--check-config")
    assert done.returncode == 0
    assert "no API tokens configured" in done.stderr
    assert "PSLEDGER_CONFIG_FILE" in done.stderr and "sha256sum" in done.stderr
    assert "PSLEDGER_WEBHOOK_SECRETS_CRM" in done.stderr
