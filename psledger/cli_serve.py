"""`psledger serve`: the HTTP app (webhooks in, queries and actions out) on uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from psledger.cli import Context, cli, guarded, pass_ctx
from psledger.read_side import ViewThread
from psledger.settings import redact, store_environment

log = logging.getLogger("psledger.http")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on.",
)
@click.option(
    "--config",
    "config_file",
    envvar="PSLEDGER_CONFIG_FILE",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    help="TOML with API tokens and webhook secrets (see compose/psledger.example.toml).",
)
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    help="uvicorn's log level.",
)
@click.option(
    "--access-log/--no-access-log",
    default=True,
    show_default=True,
    help="Log every request (uvicorn's access log).",
)
@click.option(
    "--check-config",
    is_flag=True,
    help="Check the settings and the config file, say what they allow, and exit "
    "(non-zero if they are invalid); nothing is served and the store is not opened.",
)
@pass_ctx
@guarded
def serve(
    ctx: Context,
    host: str,
    port: int,
    config_file: Path | None,
    log_level: str,
    access_log: bool,
    check_config: bool,
) -> None:
    """Serve signed CRM/HR/ERP webhooks and the query, finance and operator API."""
    from psledger.http import create_app
    from psledger.http.config import gaps, load_access, summary

    if config_file is not None:
        ctx.settings = ctx.settings.model_copy(update={"config_file": config_file})
    access = load_access(ctx.settings)  # a bad config file is one line, before binding
    for gap in gaps(access):
        click.echo(f"psledger: warning: {gap}", err=True)
    if check_config:
        store_environment(ctx.settings.store)  # the URL's shape; nothing connects
        where = ctx.settings.config_file or "no config file (environment only)"
        click.echo(f"config OK: {where}")
        click.echo(f"  store: {redact(ctx.settings.store)}")
        for line in summary(access):
            click.echo(f"  {line}")
        return
    ctx.wiring.ledger  # noqa: B018 - the write side built (a bad mapping refused) before binding
    app = create_app(ctx.settings, wiring=ctx.wiring, access=access)
    import uvicorn

    ctx.settle()  # what serves for the process's life is built
    views = ViewThread(ctx.wiring.read_side).start()  # keeps the read views current
    try:
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=log_level,
            access_log=access_log,
            workers=1,
            proxy_headers=False,
        )
    finally:
        views.stop()
