"""The psledger command line.

Every command bootstraps from --store / PSLEDGER_STORE; a LedgerError is one
line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
import orjson

from domain.errors import InputError, LedgerError
from domain.period import Period
from psledger.bootstrap import Wiring, bootstrap
from psledger.ops import logs
from psledger.settings import Settings, load_settings

if TYPE_CHECKING:
    from psledger.read_side import ReadSide

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

    # Set by `main()`, the process's own entry; a process that embeds the
    # CLI (the tests) keeps its heap as it is. See `settle`.
    freezes_heap = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._wiring: Wiring | None = None

    @property
    def wiring(self) -> Wiring:
        if self._wiring is None:
            self._wiring = bootstrap(self.settings)
            self.settle()
        return self._wiring

    def settle(self) -> None:
        """What is alive now (the modules, the wiring) lives as long as the
        process: frozen out of the collector's sight (`gc.freeze`). Every
        collection of the oldest generation scanned it all, some 50,000
        objects: 26-41 ms a time, paid by whichever trace or request was
        running (docs/benchmarks.md, session 18). Only in `main()`'s process."""
        if self.freezes_heap:
            gc.freeze()

    def close(self) -> None:
        if self._wiring is not None:
            self._wiring.close()


pass_ctx = click.make_pass_decorator(Context)


def format_option(*choices: str) -> Callable[[F], F]:
    """`--format` with these choices, the first the default (for people)."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(list(choices)),
        default=choices[0],
        help=f"{choices[0]} for people, {', '.join(choices[1:])} for scripts.",
    )


def emit_json(data: Any) -> None:
    click.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def period_option(value: str | None) -> str | None:
    """A --period value, strictly YYYY-MM (the one parser, `Period.parse`)."""
    if value is None:
        return None
    parsed = Period.parse(value)
    if str(parsed) != value:
        raise InputError(f"period {value!r} is not a month written YYYY-MM")
    return value


def checked_period(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """click callback: a bad --period is a usage error naming the option."""
    try:
        return period_option(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from None


# Each command's modules, imported when it is asked for (or for --help):
# `psledger items` does not import ingest, audit or the HTTP service.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "audit": ("cli_audit",),
    "bill": ("cli_commands",),
    "contracts": ("cli_commands",),
    "db": ("cli_db",),
    "demo": ("cli_demo",),
    "history": ("cli_commands",),
    "ingest": ("cli_commands", "cli_ingest"),
    "invoice": ("cli_commands",),
    "invoices": ("cli_commands",),
    "items": ("cli_commands",),
    "parked": ("cli_set_aside",),
    "projections": ("cli_projections", "cli_rebuild"),
    "publish": ("cli_publish",),
    "quarantine": ("cli_set_aside",),
    "rebuild": ("cli_rebuild",),
    "reconcile": ("cli_audit",),
    "serve": ("cli_serve",),
    "show": ("cli_commands",),
    "status": ("cli_status",),
}


def load_commands(*names: str) -> None:
    """Import the modules that register these commands (every one without names)."""
    import importlib

    for name in names or tuple(COMMAND_MODULES):
        for module in COMMAND_MODULES.get(name, ()):
            importlib.import_module(f"psledger.{module}")


class PsledgerGroup(click.Group):
    """The root group: usage errors in psledger's one-line format; each
    command's module imported when the command is asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMAND_MODULES) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        load_commands(cmd_name)
        return super().get_command(ctx, cmd_name)

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.pop("standalone_mode", True)
        try:
            result = super().main(*args, standalone_mode=False, **kwargs)  # type: ignore[call-overload]
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.format_message())
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            fail("aborted")
        except click.ClickException as exc:
            hint = ""
            if isinstance(exc, click.UsageError) and exc.ctx is not None:
                hint = f" (see {exc.ctx.command_path} --help)"
            fail(f"{exc.format_message()}{hint}", exc.exit_code)
        if not standalone:
            return result
        sys.exit(result if isinstance(result, int) else 0)  # commands return None


@click.group(cls=PsledgerGroup)
@click.version_option(package_name="psledger", prog_name="psledger", message="%(prog)s %(version)s")
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
@click.option(
    "--log-format",
    type=click.Choice(logs.FORMATS),
    envvar=logs.ENV,
    default=None,
    expose_value=False,
    is_eager=True,
    callback=lambda _ctx, _param, value: logs.configure(value) if value is not None else None,
    help="Log lines as json or console (stderr); unset, only warnings are logged.",
)
@click.pass_context
def cli(ctx: click.Context, store: str | None, rules_file: Path | None) -> None:
    """psledger: the ledger between a firm's PSA, CRM, HR system and ERP."""
    overrides: dict[str, Any] = {}
    if store:
        overrides["store"] = store
    if rules_file:
        overrides["rules_file"] = rules_file
    try:
        settings = load_settings(**overrides)
    except LedgerError as exc:
        fail(str(exc))
    context = Context(settings)
    ctx.obj = context
    ctx.call_on_close(context.close)


def caught_up(read_side: ReadSide, wanted: Sequence[str] = ()) -> None:
    """The views (or those named) caught up to the store's last event. On a
    terminal, with a progress bar when there are events to read (the first
    read after a large billing run: minutes on PostgreSQL); a read of views
    that are caught up shows nothing, and piped output stays plain."""
    if not sys.stderr.isatty():
        read_side.catch_up(wanted)
        return
    start, target = read_side.span(wanted)
    if start >= target:
        return
    with progress("catching the views up", target - start) as advance:
        done = [start]

        def moved(position: int, _target: int) -> None:
            advance(position - done[0])
            done[0] = position

        read_side.catch_up(wanted, until=target, progress=moved)


@contextmanager
def progress(
    label: str, total: int | None = None, unit: str | None = None
) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr while a long command runs, only on a terminal:
    yields `advance(n)`; without a total, a spinner (and the count of `unit`s
    so far); piped or redirected output stays plain."""
    if not sys.stderr.isatty():
        yield lambda _n: None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    counted: tuple[ProgressColumn, ...] = (BarColumn(), MofNCompleteColumn())
    if total is None:
        counted = (TextColumn(f"{{task.completed:,.0f}} {unit}"),) if unit else ()
    columns = (
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        *counted,
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def main() -> None:
    Context.freezes_heap = True
    cli(prog_name="psledger")


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from exc
