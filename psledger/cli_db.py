"""Subcommands: db upgrade, db status (the store's schema migrations)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from eventsourcing.persistence import PersistenceError

from domain.errors import InfrastructureError
from psledger.app import LedgerApplication
from psledger.cli import Context, cli, emit_json, guarded, pass_ctx
from psledger.settings import redact, store_environment
from psledger.store.schema import status, upgrade


@contextmanager
def opened_store(ctx: Context) -> Iterator[LedgerApplication]:
    """The store alone, without bootstrap (which would upgrade it first)."""
    store = ctx.settings.store
    try:
        app = LedgerApplication(env=store_environment(store))
    except (PersistenceError, OSError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InfrastructureError(f"cannot open the event store {redact(store)}: {first}") from exc
    try:
        yield app
    finally:
        app.close()


@cli.group()
def db() -> None:
    """The event store's schema: versioned migrations."""


@db.command("upgrade")
@pass_ctx
@guarded
def db_upgrade(ctx: Context) -> None:
    """Apply the schema migrations the store lacks (safe to run from many
    processes at once: they wait for each other and each migration runs once)."""
    with opened_store(ctx) as app:
        applied = upgrade(app)
        current = status(app).current
    for migration in applied:
        click.echo(f"applied {migration.version}: {migration.name}")
    if not applied:
        click.echo(f"schema is up to date (version {current})")
    else:
        click.echo(f"schema is at version {current}")


@db.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_ctx
@guarded
def db_status(ctx: Context, as_json: bool) -> None:
    """The store's schema version, the latest this psledger knows, and what is pending."""
    with opened_store(ctx) as app:
        found = status(app)
    if as_json:
        emit_json(
            {
                "current": found.current,
                "latest": found.latest,
                "pending": [{"version": m.version, "name": m.name} for m in found.pending],
                "applied": [
                    {"version": v, "name": n, "applied_at": at} for v, n, at in found.applied
                ],
            }
        )
        return
    click.echo(f"current version: {found.current}")
    click.echo(f"latest version: {found.latest}")
    if found.current > found.latest:
        click.echo("the store is newer than this psledger: upgrade psledger")
    for migration in found.pending:
        click.echo(f"pending {migration.version}: {migration.name}")
