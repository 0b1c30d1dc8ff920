"""`psledger serve`: the HTTP app (webhooks in, queries and actions out) on uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from psledger.cli import Context, cli, guarded, pass_ctx
from psledger.read_side import ViewThread

log = logging.getLogger("psledger.http")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
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
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@pass_ctx
@guarded
def serve(
    ctx: Context,
    host: str,
    port: int,
    config_file: Path | None,
    log_level: str,
    access_log: bool,
) -> None:
    """Serve signed CRM/HR/ERP webhooks and the query, finance and operator API."""
    import uvicorn

    from psledger.http import create_app
    from psledger.http.config import load_access

    if config_file is not None:
        ctx.settings = ctx.settings.model_copy(update={"config_file": config_file})
    access = load_access(ctx.settings)  # a bad config file is one line, before binding
    if not access.users_by_token_hash:
        click.echo(
            "psledger: warning: no API tokens configured; every API call is refused", err=True
        )
    for source in ("crm", "hr", "erp"):
        if not access.keys_for(source):
            click.echo(
                f"psledger: warning: no webhook secret for {source}; its deliveries are refused",
                err=True,
            )
    app = create_app(ctx.settings, wiring=ctx.wiring, access=access)
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
