"""Subcommands: CDC ingestion (files, Kafka, embedded Debezium), quarantine, parked."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cdc.sources import FileChangeSource
from domain.errors import LedgerError
from psledger.cli import Context, cli, emit_json, fail, guarded, pass_ctx, progress
from psledger.cli_commands import ingest
from psledger.ingest_tally import RecordTally, run_counted
from psledger.pipeline import IngestReport
from psledger.render import table
from psledger.set_aside import STATUSES, check_status, short_id

EXIT_WAITING = 3


def print_report(report: IngestReport, tally: RecordTally, files: str | None = None) -> None:
    """The run's counts, in records; a run that leaves transactions waiting
    for records it never saw says so and exits non-zero (they are staged in
    the store, for the consumer that brings the rest), and so do `files`
    of which nothing could be applied. (A Kafka consumer may be handed only
    bad records while its group applies the rest: that is no failure.)"""
    click.echo(f"{tally.line(report)} ({report.batches} batches)")
    for message in report.messages:
        click.echo(f"  note: {message}")
    for problem in report.problems[:20]:
        click.echo(f"  quarantined: {problem}")
    if len(report.problems) > 20:
        click.echo(f"  ... and {len(report.problems) - 20} more (psledger quarantine list)")
    if report.waiting:
        shown = ", ".join(report.waiting[:10])
        more = f" and {len(report.waiting) - 10} more" if len(report.waiting) > 10 else ""
        click.echo(
            f"psledger: {len(report.waiting)} source transactions are incomplete and staged "
            f"in the store, waiting for records this run did not receive: {shown}{more}",
            err=True,
        )
        sys.exit(EXIT_WAITING)
    counts = tally.counts
    if (
        files
        and counts["quarantined"]
        and not any(
            counts[end] for end in ("applied", "duplicate", "superseded", "parked", "staged")
        )
    ):
        fail(
            f"nothing in {files} could be applied: {counts['quarantined']} of "
            f"{tally.records} records quarantined (psledger quarantine list)"
        )


def _lines(files: tuple[Path, ...]) -> int | None:
    """How many records the files hold (their lines), for a progress bar."""
    if not sys.stderr.isatty():
        return None
    try:
        return sum(path.read_bytes().count(b"\n") for path in files)
    except OSError:
        return None


@ingest.command("debezium")
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="Records per store transaction.",
)
@pass_ctx
@guarded
def ingest_debezium(ctx: Context, files: tuple[Path, ...], batch_size: int) -> None:
    """Apply Debezium change-event files (kcat -C -J format)."""
    source = FileChangeSource(files, batch_size=batch_size)
    with progress("ingesting", _lines(files)) as tick:
        report, tally = run_counted(ctx.wiring.pipeline, source, tick=tick)
    print_report(report, tally, ", ".join(str(f) for f in files))


@ingest.command("kafka")
@click.option("--bootstrap-servers", required=True, help="Kafka brokers, HOST:PORT[,HOST:PORT].")
@click.option(
    "--group",
    "group_id",
    required=True,
    help="Consumer group; processes in one group share the topics' partitions.",
)
@click.option("--topics", required=True, help="Comma-separated topic names.")
@click.option(
    "--batch-size",
    default=500,
    show_default=True,
    type=click.IntRange(min=1),
    help="Records per poll and store transaction.",
)
@click.option(
    "--idle-polls",
    default=None,
    type=int,
    help="Stop after this many empty polls (default: run until interrupted).",
)
@click.option(
    "-X",
    "--consumer-config",
    "consumer_config",
    multiple=True,
    metavar="KEY=VALUE",
    help="A librdkafka consumer property (e.g. session.timeout.ms=6000); repeatable.",
)
@click.option(
    "--dlq/--no-dlq",
    default=True,
    show_default=True,
    help="Also produce quarantined records to <topic>.dlq.",
)
@pass_ctx
@guarded
def ingest_kafka(
    ctx: Context,
    bootstrap_servers: str,
    group_id: str,
    topics: str,
    batch_size: int,
    idle_polls: int | None,
    consumer_config: tuple[str, ...],
    dlq: bool,
) -> None:
    """Consume Debezium topics with a consumer group; offsets follow durability."""
    from cdc.kafka import DeadLetterProducer, KafkaChangeSource

    config: dict[str, str] = {}
    for item in consumer_config:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="-X")
        config[name.strip()] = value.strip()

    dead_letters = DeadLetterProducer(bootstrap_servers) if dlq else None
    source = KafkaChangeSource(
        bootstrap_servers,
        group_id,
        [t.strip() for t in topics.split(",") if t.strip()],
        batch_size=batch_size,
        idle_polls=idle_polls,
        config=config,
    )
    try:
        with progress("consuming", unit="records") as tick:
            report, tally = run_counted(
                ctx.wiring.kafka_pipeline(dead_letters), source, flush_incomplete=False, tick=tick
            )
    finally:
        source.close()
        if dead_letters is not None:
            dead_letters.close()
    print_report(report, tally)


@ingest.command("debezium-engine")
@click.option("--source", "source_url", required=True, help="postgresql://... of the PSA.")
@click.option(
    "--offsets",
    "offsets_path",
    default="./psledger-engine-offsets.dat",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Where the engine keeps its source offsets (resume point).",
)
@click.option("--slot", default="psledger", show_default=True, help="PostgreSQL replication slot.")
@click.option(
    "--publication", default="psledger", show_default=True, help="PostgreSQL publication."
)
@click.option(
    "--topic-prefix",
    default="psa",
    show_default=True,
    help="Debezium topic prefix (as the mapping expects it).",
)
@click.option(
    "--idle-seconds",
    default=None,
    type=float,
    help="Stop after this many idle seconds (default: run until interrupted).",
)
@pass_ctx
@guarded
def ingest_engine(
    ctx: Context,
    source_url: str,
    offsets_path: Path,
    slot: str,
    publication: str,
    topic_prefix: str,
    idle_seconds: float | None,
) -> None:
    """Capture the PSA database with an embedded Debezium engine (Java 17)."""
    from cdc.engine import DebeziumEngineSource

    source = DebeziumEngineSource(
        source_url,
        offsets_path=offsets_path,
        slot_name=slot,
        publication_name=publication,
        topic_prefix=topic_prefix,
        stop_when_idle_seconds=idle_seconds,
    )
    try:
        with progress("capturing", unit="records") as tick:
            report, tally = run_counted(
                ctx.wiring.pipeline, source, flush_incomplete=False, tick=tick
            )
    finally:
        source.close()
    print_report(report, tally)


@cli.group()
def quarantine() -> None:
    """Records that could not be decoded, mapped or applied."""


def _checked_status(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return check_status(value)
    except LedgerError as exc:
        raise click.BadParameter(str(exc)) from None


@quarantine.command("list")
@click.option(
    "--status",
    default="open",
    show_default=True,
    callback=_checked_status,
    help=f"{', '.join(STATUSES)}, or 'discarded by WHO'.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="A table (short ids) or JSON (full and short ids).",
)
@pass_ctx
@guarded
def quarantine_list(ctx: Context, status: str, fmt: str) -> None:
    """Quarantined records with their reason; any unique id prefix names one."""
    rows = ctx.wiring.quarantine.list(status)
    if fmt == "json":
        emit_json([_view(r, raw=False) for r in rows])
        return
    if not rows:
        click.echo(f"no {status} quarantined records")
        return
    click.echo(
        table(
            ("id", "source", "position", "status", "reason", "detail"),
            [
                (
                    short_id(r.id),
                    r.source,
                    f"{r.partition}@{r.offset}",
                    r.status,
                    r.reason,
                    r.detail[:100],
                )
                for r in rows
            ],
        )
    )


ROW_ID = click.argument("row_id", metavar="ID")


@quarantine.command("show")
@ROW_ID
@pass_ctx
@guarded
def quarantine_show(ctx: Context, row_id: str) -> None:
    """One quarantined record with its raw bytes, as JSON (ID: a unique prefix)."""
    emit_json(_view(ctx.wiring.quarantine.show(row_id), raw=True))


@quarantine.command("replay")
@ROW_ID
@pass_ctx
@guarded
def quarantine_replay(ctx: Context, row_id: str) -> None:
    """Apply a quarantined record again (after the cause is fixed)."""
    full = ctx.wiring.quarantine.resolve(row_id)
    row_id = short_id(full)
    report = ctx.wiring.quarantine.replay(full)
    if report.applied:
        click.echo(f"{row_id}: applied, {report.events} events appended")
    elif report.duplicates:
        click.echo(f"{row_id}: already applied before; released from quarantine")
    elif report.parked:
        click.echo(f"{row_id}: still waits for another record")
    else:
        why = report.set_aside[0][1] if report.set_aside else "unknown reason"
        raise LedgerError(f"quarantined record {row_id} still fails: {why}")


@quarantine.command("discard")
@ROW_ID
@click.option("--by", required=True, help="Who discards it (kept on the record).")
@pass_ctx
@guarded
def quarantine_discard(ctx: Context, row_id: str, by: str) -> None:
    """Give up on a quarantined record; it stays listed as 'discarded by WHO'."""
    full = ctx.wiring.quarantine.resolve(row_id)
    row_id = short_id(full)
    ctx.wiring.quarantine.discard(full, by)
    click.echo(f"{row_id}: discarded by {by}")


@cli.group()
def parked() -> None:
    """Records waiting for another record (a time entry before its project)."""


@parked.command("list")
@pass_ctx
@guarded
def parked_list(ctx: Context) -> None:
    """Parked records: what each waits for, since when and why."""
    rows = ctx.wiring.parking.list()
    if not rows:
        click.echo("nothing parked")
        return
    click.echo(
        table(
            ("id", "waits for", "parked at", "reason"),
            [(r.id, r.waits_for, r.parked_at.isoformat()[:19], r.reason) for r in rows],
        )
    )


@parked.command("expire")
@pass_ctx
@guarded
def parked_expire(ctx: Context) -> None:
    """Move parked records older than the limit into quarantine."""
    report = ctx.wiring.parking.expire()
    click.echo(f"{report.quarantined} parked records moved to quarantine")


def _view(row: object, *, raw: bool) -> dict[str, object]:
    from psledger.store.rows import QuarantineRow

    assert isinstance(row, QuarantineRow)
    view: dict[str, object] = {
        "id": row.id,
        "short_id": short_id(row.id),
        "source": row.source,
        "partition": row.partition,
        "offset": row.offset,
        "record_key": row.record_key,
        "reason": row.reason,
        "detail": row.detail,
        "created_at": row.created_at.isoformat(),
        "status": row.status,
    }
    if raw:
        view["raw"] = row.raw.decode("utf-8", "replace")
    return view
