"""The HTTP surface: docs that work offline, a schema as strict as the server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from surface_support import ROOT

from psledger.http import create_app
from psledger.settings import Settings

FINANCE = {"Authorization": "Bearer psl_local_finance"}  # compose/psledger.toml's local token


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        store=f"sqlite:///{tmp_path}/ledger.db", config_file=ROOT / "compose" / "psledger.toml"
    )
    with TestClient(create_app(settings)) as client:
        yield client


def external_urls(html: str) -> list[str]:
    return re.findall(r"""(?:src|href)\s*=\s*["']?((?:https?:)?//[^"' >]+)""", html)


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_reference_no_external_url(client: TestClient, page: str) -> None:
    html = client.get(page).text
    assert "<html" in html.lower()
    assert "cdn" not in html and external_urls(html) == [], html
    assets = re.findall(r"""(?:src|href)\s*=\s*["']?(/docs/assets/[^"' >]+)""", html)
    assert assets
    for asset in assets:
        fetched = client.get(asset)
        assert fetched.status_code == 200 and len(fetched.content) > 100, asset


def test_the_swagger_ui_page_loads_the_apps_own_schema(client: TestClient) -> None:
    html = client.get("/docs").text
    assert "/openapi.json" in html and "swagger-ui-bundle.js" in html


def test_the_schema_refuses_the_periods_the_server_refuses(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    body = schema["components"]["schemas"]["BillingRunRequest"]["properties"]["period"]
    pattern = re.compile(body["pattern"])
    for period in ("1960-38", "2026-00", "2026-13", "2026-1"):
        assert not pattern.search(period), period
        refused = client.post("/billing-runs", json={"period": period}, headers=FINANCE)
        assert refused.status_code == 422, refused.text
    assert pattern.search("2026-01") and pattern.search("1999-12")
    done = client.post("/billing-runs", json={"period": "2026-01"}, headers=FINANCE)
    assert done.status_code == 200, done.text


def test_as_of_is_declared_a_date_time(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    parameters = schema["paths"]["/entities/{entity_id}"]["get"]["parameters"]
    for name in ("as_of", "recorded_as_of"):
        declared = next(p for p in parameters if p["name"] == name)["schema"]
        formats = [declared.get("format")] + [s.get("format") for s in declared.get("anyOf", [])]
        assert "date-time" in formats, declared
