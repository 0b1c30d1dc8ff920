"""Subcommands: CDC ingestion (files, Kafka, embedded Debezium)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cdc.sources import FileChangeSource
from psledger.cli import Context, fail, guarded, pass_ctx, progress
from psledger.cli_commands import ingest
from psledger.ingest_tally import RecordTally, run_counted
from psledger.ops import metrics
from psledger.pipeline import IngestReport

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
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    envvar="PSLEDGER_METRICS_PORT",
    help="Serve Prometheus /metrics on 127.0.0.1:PORT while ingesting.",
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
    metrics_port: int | None,
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
        with (
            metrics.serving(metrics_port, ctx.wiring.read_side),
            progress("consuming", unit="records") as tick,
        ):
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
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    envvar="PSLEDGER_METRICS_PORT",
    help="Serve Prometheus /metrics on 127.0.0.1:PORT while ingesting.",
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
    metrics_port: int | None,
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
        with (
            metrics.serving(metrics_port, ctx.wiring.read_side),
            progress("capturing", unit="records") as tick,
        ):
            report, tally = run_counted(
                ctx.wiring.pipeline, source, flush_incomplete=False, tick=tick
            )
    finally:
        source.close()
    print_report(report, tally)
