"""Running psledger as a user does: in process (fast) or as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner, Result

from psledger.cli import cli

ROOT = Path(__file__).resolve().parents[3]
GARBAGE = b'garbage\n{"x": 1}\nnot json\n{}\n'


def run(store: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """psledger in process; the result's output holds stdout and stderr."""
    return CliRunner().invoke(
        cli, ["--store", f"sqlite:///{store}", *args], env=env, prog_name="psledger"
    )


def process(
    store: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """psledger as a separate process, with these environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "psledger", "--store", f"sqlite:///{store}", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def one_error_line(output: str) -> str:
    """The output is exactly one `psledger: error:` line; that line."""
    lines = [line for line in output.splitlines() if line.strip()]
    assert "Traceback" not in output, output
    assert len(lines) == 1 and lines[0].startswith("psledger: error: "), output
    return lines[0]
