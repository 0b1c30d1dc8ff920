"""The psledger command line.

Every command bootstraps from --store / PSLEDGER_STORE; a LedgerError is one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from domain.errors import InputError, LedgerError
from psledger.bootstrap import Wiring, bootstrap
from psledger.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

EXIT_REFUSED = 1
EXIT_INTERNAL = 70


def fail(message: str, code: int = EXIT_REFUSED) -> None:
    click.echo(f"psledger: error: {message}", err=True)
    sys.exit(code)


def guarded(fn: F) -> F:
    """Turn errors into one line and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except LedgerError as exc:
            fail(str(exc))
        except BrokenPipeError:  # `psledger ... | head`: the reader left, not an error
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)
        except (click.ClickException, click.exceptions.Exit, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("PSLEDGER_DEBUG"):
                raise
            first = (str(exc).splitlines() or [""])[0]
            fail(f"internal error: {type(exc).__name__}: {first}", EXIT_INTERNAL)

    return wrapper  # type: ignore[return-value]


class Context:
    """Lazily bootstrapped wiring shared by the subcommands."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._wiring: Wiring | None = None

    @property
    def wiring(self) -> Wiring:
        if self._wiring is None:
            self._wiring = bootstrap(self.settings)
        return self._wiring

    def close(self) -> None:
        if self._wiring is not None:
            self._wiring.close()


pass_ctx = click.make_pass_decorator(Context)


def emit_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@click.group()
@click.option(
    "--store",
    envvar="PSLEDGER_STORE",
    default=None,
    help="Event store URL: sqlite:///PATH (default sqlite:///./psledger.db) "
    "or postgresql://USER@HOST:PORT/DB.",
)
@click.option(
    "--rules",
    "rules_file",
    envvar="PSLEDGER_RULES_FILE",
    default=None,
    type=click.Path(path_type=Path),
    help="Tax codes and FX rates (JSON).",
)
@click.pass_context
def cli(ctx: click.Context, store: str | None, rules_file: Path | None) -> None:
    """psledger: the ledger between a firm's PSA, CRM, HR system and ERP."""
    overrides: dict[str, Any] = {}
    if store:
        overrides["store"] = store
    if rules_file:
        overrides["rules_file"] = rules_file
    context = Context(Settings(**overrides))
    ctx.obj = context
    ctx.call_on_close(context.close)


def main() -> None:
    cli(prog_name="psledger")


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc


# Subcommands register themselves on `cli`.
from psledger import cli_audit as _audit  # noqa: E402,F401
from psledger import cli_commands as _commands  # noqa: E402,F401
from psledger import cli_db as _db  # noqa: E402,F401
from psledger import cli_demo as _demo  # noqa: E402,F401
from psledger import cli_ingest as _ingest  # noqa: E402,F401
from psledger import cli_projections as _projections  # noqa: E402,F401
from psledger import cli_publish as _publish  # noqa: E402,F401
from psledger import cli_rebuild as _rebuild  # noqa: E402,F401
from psledger import cli_serve as _serve  # noqa: E402,F401
