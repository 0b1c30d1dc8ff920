"""Subcommands for auditors: audit digest, audit verify, reconcile.

Exit codes: 0 when the check passes, 3 when it finds a problem (a broken
chain, a digest that does not match, drift against the source), 1 for a
refused request (bad input), as for every command.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from domain.errors import InputError
from psledger.audit.journal import (
    MIN_PER_JOB,
    Digest,
    Reopen,
    Verification,
    default_jobs,
    take_digest,
    verify,
)
from psledger.audit.ledger_side import LedgerSide
from psledger.audit.psa_source import (
    PostgresPsaRows,
    PsaRows,
    SnapshotFilePsaRows,
    lsn_text,
    tables_to_read,
)
from psledger.audit.reconcile import Reconciler, Report
from psledger.audit.trace import read_side_of, trace, trace_json
from psledger.audit.trace_text import render_text
from psledger.bootstrap import bootstrap
from psledger.cli import (
    Context,
    caught_up,
    cli,
    emit_json,
    format_option,
    guarded,
    pass_ctx,
)
from psledger.render import table
from psledger.settings import Settings
from psledger.store.journal import JournalStore

EXIT_FOUND = 3


@cli.group()
def audit() -> None:
    """The tamper-evident journal: take a digest, verify the chain."""


@audit.command("digest")
@format_option("text", "json")
@pass_ctx
@guarded
def audit_digest(ctx: Context, fmt: str) -> None:
    """Print the chain's head: position, chain hash and time (UTC).

    Keep it outside the system; `audit verify --digest` proves later that the
    history up to that position is unchanged.
    """
    digest = take_digest(JournalStore(ctx.wiring.app.recorder))
    if fmt == "json":
        emit_json(digest.to_dict())
        return
    data = digest.to_dict()
    click.echo(f"position   {data['position']}")
    click.echo(f"chain_hash {data['chain_hash']}")
    click.echo(f"taken_at   {data['taken_at']}")
    click.echo(f"digest     {data['digest']}")


@audit.command("verify")
@click.option(
    "--digest",
    "digest_text",
    default=None,
    metavar="FILE_OR_VALUE",
    help="A digest to prove: POSITION:HASH, the JSON of `audit digest`, or a file holding it.",
)
@click.option("--from", "start", type=click.IntRange(min=1), default=1, help="First position.")
@click.option(
    "--page",
    type=click.IntRange(min=1),
    default=5000,
    hidden=True,
    help="Events read per page.",
)
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=default_jobs,
    show_default="the CPUs available, up to 4",
    help="Processes that verify ranges of a long history side by side.",
)
@click.option(
    "--min-per-job",
    type=click.IntRange(min=1),
    default=MIN_PER_JOB,
    hidden=True,
    help="Fewest positions a process is given.",
)
@format_option("text", "json")
@pass_ctx
@guarded
def audit_verify(
    ctx: Context,
    digest_text: str | None,
    start: int,
    page: int,
    jobs: int,
    min_per_job: int,
    fmt: str,
) -> None:
    """Recompute the chain from the stored events, page by page.

    Exits 0 with the number of events verified, or 3 naming the first
    position whose event or chain entry does not match (or a digest that
    does not match the history).
    """
    digest = Digest.parse(digest_text) if digest_text else None
    store = JournalStore(ctx.wiring.app.recorder)
    with _progress(store.max_position(), start) as advance:
        result = verify(
            store,
            start=start,
            digest=digest,
            page=page,
            progress=advance,
            jobs=jobs,
            reopen=journal_reopener(ctx.wiring.settings),
            min_per_job=min_per_job,
        )
    if fmt == "json":
        emit_json(_as_dict(result))
    else:
        _print(result)
    if not result.ok:
        sys.exit(EXIT_FOUND)


def journal_reopener(settings: Settings) -> Reopen:
    """The journal of the same store, opened afresh (for a forked process)."""

    @contextmanager
    def reopen() -> Iterator[JournalStore]:
        wiring = bootstrap(settings)
        try:
            yield JournalStore(wiring.app.recorder)
        finally:
            wiring.close()

    return reopen


@audit.command("backfill")
@pass_ctx
@guarded
def audit_backfill(ctx: Context) -> None:
    """Chain the events stored after the chain's head, in bounded pages.

    `psledger db upgrade` does this for a store from before the journal;
    this is for a tail left unchained later (events written while the
    journal write was off). It only extends the chain: it never rewrites it.
    """
    store = JournalStore(ctx.wiring.app.recorder)
    if not store.exists():
        raise InputError("this store has no journal yet: run `psledger db upgrade`")
    chained = store.backfill()
    head = store.head()
    click.echo(f"chained {chained} events; the chain ends at position {head[0] if head else 0}")


@audit.command("trace")
@click.argument("number")
@format_option("text", "json")
@pass_ctx
@guarded
def audit_trace(ctx: Context, number: str, fmt: str) -> None:
    """Every line of an invoice -> its work item -> the events that billed it,
    each with who, when and its source position; the approval and rule version."""
    app = ctx.wiring.app
    caught_up(read_side_of(app), ["lineage"])
    if fmt == "json":
        click.echo(trace_json(app, number, catch_up=False, indent=True).decode())
    else:
        click.echo(render_text(trace(app, number, catch_up=False)))


@contextmanager
def _progress(last: int, start: int) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on stderr, only when it is a terminal."""
    if not sys.stderr.isatty() or last < start:
        yield None
        return
    with click.progressbar(
        length=last - start + 1, label="verifying", file=sys.stderr, show_pos=True
    ) as bar:
        yield bar.update


def _as_dict(result: Verification) -> dict[str, object]:
    return {
        "ok": result.ok,
        "verified": result.verified,
        "first": result.first,
        "last": result.last,
        "broken": None
        if result.broken is None
        else {
            "position": result.broken.position,
            "what": result.broken.what,
            "detail": result.broken.detail,
        },
        "digest": None if result.digest is None else result.digest.to_dict(),
        "digest_proven": result.digest_proven,
        "notes": result.notes,
    }


def _print(result: Verification) -> None:
    span = f" (positions {result.first}..{result.last})" if result.verified else ""
    digest = result.digest
    if digest is not None:
        if result.digest_proven:
            click.echo(
                f"digest {digest.compact}: proven, the history up to position "
                f"{digest.position} is the one the digest was taken on"
            )
        else:
            click.echo(
                f"digest {digest.compact}: NOT proven, the history up to position "
                f"{digest.position} differs from the one the digest was taken on",
                err=True,
            )
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if result.broken is None:
        click.echo(f"verified {result.verified} events{span}: the chain is intact")
        return
    click.echo(f"verified {result.verified} events{span} before the break", err=True)
    click.echo(
        f"psledger: chain broken at position {result.broken.position}: {result.broken.detail}",
        err=True,
    )


@cli.command()
@click.option(
    "--source",
    "source_url",
    default=None,
    metavar="postgresql://PSA_URL",
    help="The PSA database, read read-only in one REPEATABLE READ snapshot.",
)
@click.option(
    "--snapshot",
    "snapshot_file",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    help="A Debezium snapshot file (kcat -C -J JSONL) in place of a live database.",
)
@click.option(
    "--tables",
    default=None,
    help="Comma-separated PSA tables to reconcile (default: every mapped table).",
)
@format_option("table", "json")
@pass_ctx
@guarded
def reconcile(
    ctx: Context,
    source_url: str | None,
    snapshot_file: Path | None,
    tables: str | None,
    fmt: str,
) -> None:
    """Compare the PSA's current rows with the ledger's current state.

    Reports rows missing from the ledger, entities the source no longer has,
    and field drift, each with what is parked or quarantined for it. Exits 3
    on any difference.
    """
    if (source_url is None) == (snapshot_file is None):
        raise InputError("give either --source postgresql://... or --snapshot FILE")
    wiring = ctx.wiring
    mapping = wiring.mapping
    wanted = tables_to_read(
        mapping, [t.strip() for t in tables.split(",") if t.strip()] if tables else None
    )
    source: PsaRows
    if source_url is not None:
        if not source_url.startswith(("postgresql://", "postgres://")):
            raise InputError("--source must be a postgresql:// URL")
        source = PostgresPsaRows(source_url, mapping)
    else:
        assert snapshot_file is not None
        source = SnapshotFilePsaRows(snapshot_file, mapping)
    try:
        with _counter("reconciling") as tick:
            report = Reconciler(LedgerSide(wiring.app), mapping).run(source, wanted, tick)
    finally:
        source.close()
    if fmt == "json":
        emit_json(report.to_dict())
    else:
        _print_report(report)
    if report.drift:
        sys.exit(EXIT_FOUND)


@contextmanager
def _counter(label: str) -> Iterator[Callable[[int], None] | None]:
    """A running count on stderr, only when it is a terminal."""
    if not sys.stderr.isatty():
        yield None
        return

    def tick(n: int) -> None:
        click.echo(f"\r{label}: {n} rows", nl=False, err=True)

    try:
        yield tick
    finally:
        click.echo("", err=True)


def _print_report(report: Report) -> None:
    click.echo(
        f"source: {report.source}, snapshot at LSN {lsn_text(report.snapshot_lsn)}; "
        f"ledger applied up to LSN {lsn_text(report.ledger_lsn)}"
    )
    click.echo(
        f"{report.rows} source rows in {len(report.tables)} tables: {report.matched} match, "
        f"{report.drift} differences"
    )
    for note in report.notes:
        click.echo(f"note: {note}")
    if not report.differences:
        return
    rows = [
        (
            d.kind,
            d.entity,
            d.business_id,
            d.field or "",
            _cell(d.source),
            _cell(d.ledger),
            "; ".join(d.reasons),
        )
        for d in report.differences
    ]
    click.echo("")
    click.echo(
        table(["DIFFERENCE", "ENTITY", "ID", "FIELD", "SOURCE", "LEDGER", "LIKELY REASON"], rows)
    )


def _cell(value: object) -> str:
    if value is None:
        return "-"
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if len(text) <= 60 else text[:57] + "..."
