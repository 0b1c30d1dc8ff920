"""A new user's mistakes get one clear line and a non-zero exit: filters,
periods, environment values, usage errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from surface_support import one_error_line, process, run


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (("invoices", "--period", "2026-13"), "'2026-13'"),
        (("invoices", "--period", "jan"), "'jan'"),
        (("invoices", "--state", "bogus"), "'bogus'"),
        (("items", "--state", "bogus"), "'bogus'"),
        (("items", "--exception", "nonsense"), "'nonsense'"),
        (("quarantine", "list", "--status", "bogus"), "'bogus'"),
        (("bill", "--period", "2026-1"), "'2026-1'"),
        (("bill", "--period", " 2026-1"), "' 2026-1'"),
        (("bill", "--period", "2026-01 "), "'2026-01 '"),
    ],
)
def test_a_nonsense_filter_or_period_is_refused_with_one_line(
    tmp_path: Path, args: tuple[str, ...], named: str
) -> None:
    result = run(tmp_path / "ledger.db", *args)
    assert result.exit_code == 2
    line = one_error_line(result.output)
    assert named in line and f"psledger {args[0]}" in line


def test_every_period_option_uses_the_one_strict_parser(tmp_path: Path) -> None:
    refused = [run(tmp_path / "l.db", "bill", "--period", p).output for p in ("2026-1", " 2026-1")]
    assert all("is not a month written YYYY-MM" in out for out in refused)
    assert run(tmp_path / "l.db", "bill", "--period", "2026-01").exit_code == 0


def test_the_valid_filters_are_accepted(tmp_path: Path) -> None:
    store = tmp_path / "ledger.db"
    for args in (
        ("invoices", "--period", "2026-01", "--state", "issued"),
        ("items", "--state", "billable", "--exception", "any"),
        ("items", "--exception", "no_rate"),
        ("quarantine", "list", "--status", "discarded"),
        ("quarantine", "list", "--status", "discarded by ops.kim"),
    ):
        result = run(store, *args)
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("variable", "value", "args"),
    [
        ("PSLEDGER_PARK_MAX_AGE_SECONDS", "1h", ("parked", "list")),
        ("PSLEDGER_CACHE_SIZE", "abc", ("invoices",)),
        ("PSLEDGER_CACHE_SIZE", "-1", ("invoices",)),
    ],
)
def test_a_bad_environment_value_is_one_line_naming_the_variable(
    tmp_path: Path, variable: str, value: str, args: tuple[str, ...]
) -> None:
    done = process(tmp_path / "ledger.db", *args, env={variable: value})
    assert done.returncode != 0
    line = one_error_line(done.stderr)
    assert f"{variable}={value!r}" in line
    assert done.stdout == ""


def test_a_usage_error_has_the_same_one_line_format(tmp_path: Path) -> None:
    done = process(tmp_path / "ledger.db", "invoices", "--no-such-option")
    assert done.returncode == 2
    assert "--no-such-option" in one_error_line(done.stderr)


def test_version_prints_the_package_version(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = run(tmp_path / "ledger.db", "--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"psledger {version('psledger')}"
