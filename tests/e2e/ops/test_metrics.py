"""GET /metrics over a real `psledger serve`: the psledger_* series move when
a webhook is ingested over HTTP and when another process ingests a PSA file;
an ingest's own endpoint (`metrics.start_http`) moves with its pipeline."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from ops_support import LiveOps, cli, parking_and_quarantine_file, serve
from prometheus_client.parser import text_string_to_metric_families
from standardwebhooks import Webhook
from support.ports import free_port

from cdc.sources import FileChangeSource
from psledger.bootstrap import bootstrap
from psledger.demo.run import write_january
from psledger.ops import metrics
from psledger.settings import Settings

REFERENCE = Path(__file__).resolve().parents[3] / "psledger" / "data" / "webhooks"


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    response = httpx.get(url, timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveOps, str]]:
    store = f"sqlite:///{tmp_path}/metrics.db"
    with serve(store, tmp_path) as server:
        yield server, store


def deliver(server: LiveOps, source: str, body: bytes) -> httpx.Response:
    delivery_id = "msg_metrics_1"
    at = datetime.now(UTC)
    signature = Webhook(server.secrets[source]).sign(delivery_id, at, body.decode())
    headers = {
        "content-type": "application/json",
        "webhook-id": delivery_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": signature,
    }
    return httpx.post(f"{server.url}/webhooks/{source}", content=body, headers=headers)


def test_a_webhook_over_http_moves_the_records_latency_and_response_series(
    live: tuple[LiveOps, str],
) -> None:
    server, _store = live
    before = scrape(server.url + "/metrics")
    assert value(before, "psledger_records_total", source="webhook:crm", outcome="applied") == 0
    assert (
        deliver(server, "crm", (REFERENCE / "crm.sow.approved.json").read_bytes()).status_code
        == 202
    )
    after = scrape(server.url + "/metrics")
    assert value(after, "psledger_records_total", source="webhook:crm", outcome="applied") == 1
    assert value(after, "psledger_events_appended_total", system="crm") >= 1
    assert value(after, "psledger_source_to_ledger_seconds_count", source="webhook:crm") == 1
    assert value(after, "psledger_webhook_responses_total", source="crm", status="202") == 1
    assert value(after, "psledger_store_events") > value(before, "psledger_store_events")
    timed = value(
        after,
        "psledger_http_request_seconds_count",
        method="POST",
        route="/webhooks/{source}",
        status="202",
    )
    assert timed == 1


def test_a_billing_run_over_http_is_counted_and_timed(live: tuple[LiveOps, str]) -> None:
    server, _store = live
    before = scrape(server.url + "/metrics")
    with server.client("finance") as client:
        assert client.post("/billing-runs", json={"period": "2026-01"}).status_code == 200
    after = scrape(server.url + "/metrics")
    for name, labels in (
        ("psledger_billing_runs_total", {"outcome": "ok"}),
        ("psledger_billing_run_seconds_count", {}),
    ):
        assert value(after, name, **labels) - value(before, name, **labels) == 1
    assert value(after, "psledger_billing_run_seconds_sum") > 0


def test_another_process_ingesting_moves_the_store_gauges(
    live: tuple[LiveOps, str], tmp_path: Path
) -> None:
    server, store = live
    before = scrape(server.url + "/metrics")
    january = tmp_path / "psa-2026-01.jsonl"
    write_january(january)
    cli("--store", store, "ingest", "debezium", str(january))
    cli(
        "--store",
        store,
        "ingest",
        "debezium",
        str(parking_and_quarantine_file(january, tmp_path / "x.jsonl")),
    )
    after = scrape(server.url + "/metrics")
    assert value(after, "psledger_store_events") > value(before, "psledger_store_events")
    assert value(after, "psledger_quarantine_open", reason="malformed_json") == 1
    assert value(after, "psledger_parked", reason="waits_for_project") >= 1
    assert ("psledger_projection_lag_events", (("view", "items"),)) in after


def test_an_ingest_exposes_its_own_series_while_it_runs(tmp_path: Path) -> None:
    january = tmp_path / "psa-2026-01.jsonl"
    write_january(january)
    wiring = bootstrap(Settings(store=f"sqlite:///{tmp_path}/ingest.db"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with metrics.serving(port, wiring.read_side):
            before = scrape(url)
            report = wiring.pipeline.run(FileChangeSource([january]))
            after = scrape(url)
            stored = wiring.read_side.last_notification_id()
        with pytest.raises(httpx.ConnectError):
            httpx.get(url, timeout=5)  # stopped with the ingest
    finally:
        wiring.close()
    consumed = value(after, "psledger_ingest_records_total", kind="consumed")
    assert (
        consumed - value(before, "psledger_ingest_records_total", kind="consumed") == report.records
    )

    def moved(source: str, outcome: str) -> float:
        labels = {"source": source, "outcome": outcome}
        return value(after, "psledger_records_total", **labels) - value(
            before, "psledger_records_total", **labels
        )

    # no contracts or workers yet: rate cards apply, time entries wait for their project
    assert moved("psa.public.rate_cards", "applied") > 0
    assert moved("psa.public.time_entries", "parked") > 0
    assert value(after, "psledger_store_events") == stored > value(before, "psledger_store_events")
