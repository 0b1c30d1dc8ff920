"""Prometheus metrics (``prometheus_client``), every series named psledger_*.

Counters and histograms live in one process-wide registry and are fed by
one-line hooks where work happens:

    @observed_inbox     Inbox.apply: records by source and outcome, events
                        appended by source system, source-to-ledger latency
    @observed_ingest    CdcPipeline.run: records consumed, skipped, dead-lettered
    @observed_billing   Ledger.bill: runs, their duration, invoices drafted
    observe_http        the HTTP middleware: request latency, webhook responses

Gauges that describe the store (quarantine and parked by reason, open
billing exceptions, projection lag, events stored) are read from the store
when scraped (`StoreCollector`), so every process reports the same truth.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from psledger.ops import logs

if TYPE_CHECKING:
    from psledger.inbox import Inbound, InboxReport
    from psledger.ledger import BillingOutcome
    from psledger.pipeline import IngestReport
    from psledger.read_side import ReadSide

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("psledger.ops")

REGISTRY = CollectorRegistry(auto_describe=True)
LATENCY_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400)

RECORDS = Counter(
    "psledger_records",
    "Inbound units decided, by source (topic or webhook:SYSTEM) and outcome",
    ["source", "outcome"],
    registry=REGISTRY,
)
EVENTS = Counter(
    "psledger_events_appended",
    "Events appended by the inbox, by source system (mixed: a batch of several)",
    ["system"],
    registry=REGISTRY,
)
RELEASED = Counter(
    "psledger_parked_released", "Parked units released and applied", registry=REGISTRY
)
LATENCY = Histogram(
    "psledger_source_to_ledger_seconds",
    "From the source's commit (or webhook occurred_at) to the ledger's commit",
    ["source"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
INGEST = Counter(
    "psledger_ingest_records",
    "Records read by the CDC pipeline: consumed, skipped (heartbeats), dead_lettered",
    ["kind"],
    registry=REGISTRY,
)
BILLING_RUNS = Counter(
    "psledger_billing_runs", "Billing runs by outcome (ok, error)", ["outcome"], registry=REGISTRY
)
BILLING_SECONDS = Histogram(
    "psledger_billing_run_seconds",
    "Billing run duration",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)
BILLING_INVOICES = Counter(
    "psledger_billing_invoices_drafted", "Invoices drafted by billing runs", registry=REGISTRY
)
WEBHOOKS = Counter(
    "psledger_webhook_responses",
    "Webhook deliveries answered, by source and HTTP status",
    ["source", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "psledger_http_request_seconds",
    "HTTP request latency by method, route template and status",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
WEBHOOK_SOURCES = frozenset({"crm", "hr", "erp"})


# -- hooks ---------------------------------------------------------------------


def observe_inbox(units: Sequence[Inbound], report: InboxReport, now: datetime) -> None:
    """Count one decided batch: each unit's outcome by its source, the events
    by source system, and the latency of each applied unit."""
    systems: set[str] = set()
    for unit, outcome in zip(units, report.outcomes, strict=False):
        RECORDS.labels(unit.source, outcome.status).inc()
        business = _business_time(unit)
        if unit.commands:
            systems.add(unit.commands[0].provenance.source_system)
        if outcome.status == "applied" and business is not None:
            LATENCY.labels(unit.source).observe(max((now - business).total_seconds(), 0.0))
        if outcome.status in ("parked", "quarantined"):
            logs.event(
                log,
                f"record {outcome.status}",
                correlation_id=correlation_id(unit),
                source=unit.source,
                reason=getattr(outcome.error, "reason", None),
                detail=str(outcome.error or ""),
            )
    if report.events:
        EVENTS.labels(systems.pop() if len(systems) == 1 else "mixed").inc(report.events)
    if report.released:
        RELEASED.inc(report.released)
    if units:
        logs.event(
            log,
            "batch decided",
            correlation_id=correlation_id(units[0]),
            units=len(units),
            applied=report.applied,
            duplicates=report.duplicates,
            superseded=report.superseded,
            parked=report.parked,
            quarantined=report.quarantined,
            events=report.events,
        )


def correlation_id(unit: Inbound) -> str:
    """A webhook's delivery id, or a CDC unit's source position."""
    if unit.source.startswith("webhook:") and unit.record_key:
        return f"{unit.source}:{unit.record_key}"
    return f"{unit.source}[{unit.partition}@{unit.offset}]"


def _business_time(unit: Inbound) -> datetime | None:
    times = [
        t
        for cmd in unit.commands
        if (t := getattr(cmd.provenance, "business_time", None)) is not None
    ]
    return max(times) if times else None


def observed_inbox(apply: F) -> F:
    """Decorate `Inbox.apply(batch, ...)` with `observe_inbox`."""

    @functools.wraps(apply)
    def wrapper(inbox: Any, batch: Iterable[Inbound], *args: Any, **kwargs: Any) -> Any:
        units = list(batch)
        report = apply(inbox, units, *args, **kwargs)
        observe_inbox(units, report, datetime.now(UTC))
        return report

    return wrapper  # type: ignore[return-value]


def observe_ingest(report: IngestReport) -> None:
    INGEST.labels("consumed").inc(report.records)
    INGEST.labels("skipped").inc(report.skipped)
    INGEST.labels("dead_lettered").inc(report.dead_lettered)


def observed_ingest(run: F) -> F:
    """Decorate `CdcPipeline.run` with `observe_ingest`."""

    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        report = run(*args, **kwargs)
        observe_ingest(report)
        return report

    return wrapper  # type: ignore[return-value]


def observed_billing(bill: F) -> F:
    """Decorate `Ledger.bill` with runs, duration and invoices drafted."""

    @functools.wraps(bill)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            outcome: BillingOutcome = bill(*args, **kwargs)
        except Exception:
            BILLING_RUNS.labels("error").inc()
            BILLING_SECONDS.observe(time.perf_counter() - started)
            raise
        seconds = time.perf_counter() - started
        BILLING_RUNS.labels("ok").inc()
        BILLING_SECONDS.observe(seconds)
        BILLING_INVOICES.inc(len(outcome.invoices))
        logs.event(
            log,
            "billing run",
            correlation_id=f"billing-run:{outcome.period}",
            invoices=len(outcome.invoices),
            events=outcome.events_appended,
            seconds=round(seconds, 3),
        )
        return outcome

    return wrapper  # type: ignore[return-value]


def observe_http(method: str, route: str, path: str, status: int, seconds: float) -> None:
    HTTP_SECONDS.labels(method, route, str(status)).observe(seconds)
    if path.startswith("/webhooks/"):
        source = path.split("/")[2]
        WEBHOOKS.labels(source if source in WEBHOOK_SOURCES else "other", str(status)).inc()


# -- scrape time ---------------------------------------------------------------


class StoreCollector(Collector):
    """Gauges read from the store at each scrape."""

    def __init__(self, read_side: ReadSide) -> None:
        self.read_side = read_side

    def collect(self) -> Iterable[Metric]:
        from psledger.ops.status import store_gauges

        found = store_gauges(self.read_side)
        for name, doc, labels, rows in found:
            family = GaugeMetricFamily(name, doc, labels=labels)
            for values, value in rows:
                family.add_metric(values, value)
            yield family


def exposition(read_side: ReadSide | None) -> bytes:
    """The Prometheus text: this process's series, then the store's gauges."""
    text = generate_latest(REGISTRY)
    if read_side is not None:
        store = CollectorRegistry(auto_describe=False)
        store.register(StoreCollector(read_side))
        text += generate_latest(store)
    return text


class _Everything(Collector):
    """This process's series and the store's gauges, for a standalone endpoint."""

    def __init__(self, read_side: ReadSide) -> None:
        self.store = StoreCollector(read_side)

    def collect(self) -> Iterable[Metric]:
        yield from REGISTRY.collect()
        yield from self.store.collect()


def start_http(port: int, read_side: ReadSide, addr: str = "127.0.0.1") -> Callable[[], None]:
    """Serve /metrics on `port` in a background thread (`psledger ingest
    --metrics-port`); returns a function that stops it."""
    from prometheus_client import start_http_server

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Everything(read_side))
    server, thread = start_http_server(port, addr, registry=registry)

    def stop() -> None:
        server.shutdown()
        thread.join(10)

    return stop


@contextlib.contextmanager
def serving(port: int | None, read_side: ReadSide) -> Iterator[None]:
    """Serve /metrics on `port` for the duration (nothing when `port` is None):
    `with metrics.serving(metrics_port, wiring.read_side): pipeline.run(...)`."""
    if port is None:
        yield
        return
    stop = start_http(port, read_side)
    try:
        yield
    finally:
        stop()
