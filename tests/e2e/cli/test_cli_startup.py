"""A command that only reads does not import or build the write side (the
source mapping, decoders, inbox, ledger); a command that takes in records or
serves them still refuses a bad mapping file before it starts."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.ports import free_port

WRITE_SIDE = ("cdc.", "fastavro", "psledger.inbox", "psledger.inbound", "psledger.ledger")
# the aggregates (and the views that fold them): a third of a read's start-up
AGGREGATES = ("domain.work_item", "domain.invoice", "domain.contract", "domain.handlers")
VIEWS = "projections.read.views"
WEBHOOK = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"

LOADED_AFTER = """
import gc, sys
from psledger.cli import main
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code
print("MODULES", " ".join(sorted(sys.modules)), file=sys.stderr)
print("FROZEN", gc.get_freeze_count(), file=sys.stderr)
sys.exit(code)
"""


def run(
    store: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", LOADED_AFTER, "--store", store, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def modules(result: subprocess.CompletedProcess[str]) -> list[str]:
    return reported(result, "MODULES")


def reported(result: subprocess.CompletedProcess[str], what: str) -> list[str]:
    line = next(ln for ln in result.stderr.splitlines() if ln.startswith(f"{what} "))
    return line.split()[1:]


@pytest.fixture
def bad_mapping(tmp_path: Path) -> dict[str, str]:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text("[tables.t\n")
    return {"PSLEDGER_MAPPING_FILE": str(mapping)}


@pytest.mark.parametrize("command", [["items"], ["invoices"], ["projections", "status"]])
def test_a_read_does_not_import_the_write_side(tmp_path: Path, command: list[str]) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    result = run(store, *command)
    assert result.returncode == 0, result.stderr
    loaded = [m for m in modules(result) if m.startswith(WRITE_SIDE)]
    assert loaded == []


@pytest.fixture
def one_contract(tmp_path: Path) -> str:
    """A SQLite store holding one contract (a CRM webhook), its views not caught up."""
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    applied = run(store, "ingest", "webhook", str(WEBHOOK / "crm.sow.approved.json"))
    assert applied.returncode == 0, applied.stderr
    return store


def test_a_read_of_views_that_are_caught_up_does_not_import_the_aggregates(
    one_contract: str,
) -> None:
    store = one_contract
    # the first read catches the views up: it folds the events into the aggregates
    first = run(store, "items")
    assert first.returncode == 0, first.stderr
    assert {*AGGREGATES, VIEWS} <= set(modules(first))
    # later reads find the views at the store's last event
    for command in (["items"], ["invoices"], ["items", "--format", "json"]):
        result = run(store, *command)
        assert result.returncode == 0, result.stderr
        assert {*AGGREGATES, VIEWS}.isdisjoint(modules(result)), command


def test_ingest_still_loads_the_write_side(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run(store, "ingest", "debezium", str(empty))
    assert result.returncode == 0, result.stderr
    assert {"psledger.inbox", "psledger.ledger", "cdc.mapping"} <= set(modules(result))


def test_a_bad_mapping_file_stops_ingest_and_serve_but_not_a_read(
    tmp_path: Path, bad_mapping: dict[str, str]
) -> None:
    store = f"sqlite:///{tmp_path / 'ledger.db'}"
    named = f"{bad_mapping['PSLEDGER_MAPPING_FILE']} is not valid TOML"
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    ingest = run(store, "ingest", "debezium", str(empty), env=bad_mapping)
    assert ingest.returncode == 1 and named in ingest.stderr, ingest.stderr
    # serve refuses before it binds (were it to bind, it would serve until killed)
    serve = run(store, "serve", "--port", str(free_port()), env=bad_mapping)
    assert serve.returncode == 1 and named in serve.stderr, serve.stderr
    read = run(store, "items", env=bad_mapping)
    assert read.returncode == 0, read.stderr


def test_every_command_is_mapped_to_the_modules_that_register_it() -> None:
    # given every psledger/cli_*.py imported, whether the map names it or not
    import importlib

    import click

    import psledger
    from psledger.cli import COMMAND_MODULES, cli

    for module in sorted(Path(psledger.__file__).parent.glob("cli_*.py")):
        importlib.import_module(f"psledger.{module.stem}")
    # then the map names exactly the registered commands, and for each, the
    # module of the command and of every subcommand it has: asking for a
    # command alone loads all of it
    assert set(cli.commands) == set(COMMAND_MODULES)
    for name, command in cli.commands.items():
        parts = [command]
        if isinstance(command, click.Group):
            parts += list(command.commands.values())
        wanted = {f"psledger.{module}" for module in COMMAND_MODULES[name]}
        found = {part.callback.__module__ for part in parts if part.callback is not None}
        assert found <= wanted, (name, found - wanted)


def test_a_command_freezes_what_its_process_keeps_and_an_embedding_does_not(
    one_contract: str,
) -> None:
    store = one_contract
    # when psledger's own entry runs a command that builds the wiring
    listed = run(store, "items", "--format", "json")
    # then the command works, and what was alive once the wiring was built
    # (the modules, the wiring) is out of the collector's sight
    assert listed.returncode == 0, listed.stderr
    assert int(reported(listed, "FROZEN")[0]) > 20_000
    # a command that builds no wiring freezes nothing
    helped = run(store, "--help")
    assert helped.returncode == 0, helped.stderr
    assert int(reported(helped, "FROZEN")[0]) == 0
    # and the CLI called in process (as the tests do) leaves its caller's heap alone
    from click.testing import CliRunner

    from psledger.cli import cli

    before = gc.get_freeze_count()
    result = CliRunner().invoke(cli, ["--store", store, "items"])
    assert result.exit_code == 0, result.output
    assert gc.get_freeze_count() == before
