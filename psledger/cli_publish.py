"""Subcommand: publish, the ERP outbox relay (psledger/outbox.py)."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import click

from domain.errors import InputError
from psledger.cli import EXIT_REFUSED, Context, cli, guarded, pass_ctx
from psledger.outbox import (
    DEFAULT_TOPIC,
    AvroEncoder,
    Encoder,
    JsonEncoder,
    KafkaPublisher,
    Outbox,
    OutboxRelay,
    RelayReport,
)


@cli.command("publish")
@click.option("--bootstrap-servers", required=True, help="Kafka brokers, H:P[,H:P...].")
@click.option(
    "--topic", default=DEFAULT_TOPIC, show_default=True, help="The topic ERP consumers read."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["avro", "json"]),
    default="avro",
    show_default=True,
    help="avro: Confluent wire format, schema in PSLEDGER_SCHEMA_REGISTRY_URL; json: as stored.",
)
@click.option(
    "--until-empty",
    is_flag=True,
    help="Stop once nothing is left unsent (default: keep polling until interrupted).",
)
@click.option(
    "--batch-size",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Outbox rows sent, acknowledged and marked together.",
)
@click.option(
    "--poll-interval", default=1.0, show_default=True, type=float, help="Seconds between polls."
)
@click.option(
    "--timeout",
    default=30.0,
    show_default=True,
    type=float,
    help="Seconds the broker has to acknowledge a message.",
)
@click.option(
    "--schema",
    "schema_file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The Avro schema of the ERP payload (default: the packaged avro/erp_invoice.avsc).",
)
@click.option(
    "-X",
    "--producer-config",
    "producer_config",
    multiple=True,
    metavar="KEY=VALUE",
    help="A librdkafka producer property (e.g. compression.type=zstd); repeatable.",
)
@pass_ctx
@guarded
def publish(
    ctx: Context,
    bootstrap_servers: str,
    topic: str,
    fmt: str,
    until_empty: bool,
    batch_size: int,
    poll_interval: float,
    timeout: float,
    schema_file: Path | None,
    producer_config: tuple[str, ...],
) -> None:
    """Relay the ERP outbox to Kafka, keyed by invoice number; a row is marked
    sent only once the broker has acknowledged it."""
    config: dict[str, str] = {}
    for item in producer_config:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="-X")
        config[name.strip()] = value.strip()

    wiring = ctx.wiring
    encoder: Encoder = JsonEncoder()
    if fmt == "avro":
        url = wiring.settings.schema_registry_url
        if not url:
            raise InputError(
                "--format avro needs a schema registry: set PSLEDGER_SCHEMA_REGISTRY_URL "
                "(or use --format json)"
            )
        from cdc.kafka import schema_registry

        encoder = AvroEncoder(schema_registry(url), topic, schema_file, registry_url=url)
    publisher = KafkaPublisher(bootstrap_servers, timeout=timeout, config=config)
    relay = OutboxRelay(Outbox(wiring.app), encoder, publisher, topic, batch_size=batch_size)
    publisher.connect(topic)
    stop = threading.Event()
    try:
        with _stop_on_signals(stop):
            report = relay.run(until_empty=until_empty, poll_interval=poll_interval, stop=stop)
    finally:
        publisher.close()
    _print(report, topic, encoder.label)
    if report.unencodable:
        number, why = next(iter(report.unencodable.items()))
        click.echo(
            f"psledger: error: {len(report.unencodable)} outbox rows could not be encoded and "
            f"stay unsent (first {number}: {why})",
            err=True,
        )
        sys.exit(EXIT_REFUSED)


def _print(report: RelayReport, topic: str, label: str) -> None:
    click.echo(
        f"published {report.published} invoices to {topic} ({label}) in {report.batches} "
        f"batches; {report.left_unsent} left unsent"
    )


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGINT / SIGTERM end the polling after the batch in flight is marked."""

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
