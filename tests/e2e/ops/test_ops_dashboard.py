"""The /ops dashboard in headless Chromium, over a real `psledger serve` of
the demo firm: an operator signs in with a token and sees the figures that
the test computes again from the CLI's answers and the firm's source rows."""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import expected
import httpx
import pytest
from ops_support import DemoStore, LiveOps
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,3000")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def dashboard(browser: WebDriver, ops_server: LiveOps) -> WebDriver:
    """The operator signed in through the login form, looking at /ops."""
    browser.get(ops_server.url + "/ops")
    assert browser.current_url.endswith("/ops/login")  # no session: the sign-in form
    browser.find_element(By.ID, "token").send_keys(ops_server.tokens["operator"])
    browser.find_element(By.ID, "sign-in").click()
    WebDriverWait(browser, 60).until(expected_conditions.url_matches(r"/ops$"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "psledger operations"
    return browser


def cell(browser: WebDriver, row: str, column: str) -> str:
    return str(browser.find_element(By.CSS_SELECTOR, f"{row} td.{column}").text)


def test_the_dashboard_is_saved_as_a_screenshot(dashboard: WebDriver, tmp_path: Path) -> None:
    shot = tmp_path / "ops-dashboard.png"
    assert dashboard.save_screenshot(str(shot))
    print(f"\n/ops screenshot: {shot}")
    assert shot.stat().st_size > 10_000


def test_the_session_cookie_is_http_only(dashboard: WebDriver) -> None:
    cookie = dashboard.get_cookie("psledger_ops")
    assert cookie is not None and cookie["httpOnly"] is True
    assert dashboard.execute_script("return document.cookie") == ""


def test_billing_readiness_by_contract_matches_the_items(
    dashboard: WebDriver, demo_store: DemoStore
) -> None:
    wanted = expected.readiness(demo_store.url)
    rows = dashboard.find_elements(By.CSS_SELECTOR, "#readiness tr[data-contract]")
    assert {r.get_attribute("data-contract") for r in rows} == set(wanted)
    for contract, counts in wanted.items():
        row = f'#readiness tr[data-contract="{contract}"]'
        shown = {}
        for span in dashboard.find_elements(By.CSS_SELECTOR, f"{row} span[data-state]"):
            shown[f"state:{span.get_attribute('data-state')}"] = int(span.text.split()[-1])
        for span in dashboard.find_elements(By.CSS_SELECTOR, f"{row} span[data-exception]"):
            shown[f"exception:{span.get_attribute('data-exception')}"] = int(span.text.split()[-1])
        assert shown == dict(counts), contract


def test_stuck_approved_time_is_shown_by_project(
    dashboard: WebDriver, demo_store: DemoStore
) -> None:
    wanted = expected.stuck(demo_store.url)
    assert wanted  # the demo leaves approved items with exceptions behind
    rows = dashboard.find_elements(By.CSS_SELECTOR, "#stuck tr[data-project]")
    shown = {
        r.get_attribute("data-project"): int(r.find_element(By.CSS_SELECTOR, "td.count").text)
        for r in rows
    }
    assert shown == wanted


def test_invoice_aging_and_rejections(dashboard: WebDriver, demo_store: DemoStore) -> None:
    buckets, rejected = expected.aging(demo_store.url)
    for name, count in buckets.items():
        assert cell(dashboard, f'#aging tr[data-bucket="{name}"]', "count") == str(count)
    rows = dashboard.find_elements(By.CSS_SELECTOR, "#rejected tr[data-number]")
    assert sorted(r.get_attribute("data-number") for r in rows) == rejected
    assert rejected  # the demo's ERP rejects one invoice


def test_quarantined_and_parked_units_link_to_their_detail(
    dashboard: WebDriver, demo_store: DemoStore, ops_server: LiveOps
) -> None:
    quarantined = expected.cli_json(demo_store.url, "quarantine", "list", "--format", "json")
    row = '#set-aside tr[data-kind="quarantine"][data-reason="malformed_json"]'
    assert cell(dashboard, row, "count") == str(len(quarantined)) == "1"
    parked = '#set-aside tr[data-kind="parked"][data-reason="waits_for_project"]'
    assert cell(dashboard, parked, "count") == "1"
    dashboard.find_element(By.CSS_SELECTOR, f"{row} a").click()
    WebDriverWait(dashboard, 30).until(expected_conditions.url_contains("/ops/quarantine/"))
    try:
        record_id = dashboard.find_element(By.CSS_SELECTOR, "#record td.id").text
        assert record_id == quarantined[0]["id"]
        assert dashboard.find_element(By.CSS_SELECTOR, "#record td.reason").text == "malformed_json"
        assert dashboard.find_element(By.ID, "raw").text.endswith('{not json"}')
    finally:
        dashboard.back()
        WebDriverWait(dashboard, 60).until(expected_conditions.url_matches(r"/ops$"))
    with ops_server.client("operator") as client:
        detail = client.get(f"/quarantine/{record_id}")  # the API's form of the same record
    assert detail.status_code == 200 and detail.json()["reason"] == "malformed_json"


def test_utilization_and_cost_against_plan(dashboard: WebDriver, demo_store: DemoStore) -> None:
    wanted = expected.utilization(demo_store.url)
    rows = dashboard.find_elements(By.CSS_SELECTOR, "#utilization tr[data-project]")
    assert {(r.get_attribute("data-project"), r.get_attribute("data-worker")) for r in rows} == set(
        wanted
    )
    for (project, worker), figures in wanted.items():
        row = f'#utilization tr[data-project="{project}"][data-worker="{worker}"]'
        assert Decimal(cell(dashboard, row, "planned")) == figures["planned"]
        assert Decimal(cell(dashboard, row, "approved")) == figures["approved"]
        if figures["planned"]:
            share = figures["approved"] / figures["planned"] * 100
            assert cell(dashboard, row, "utilization") == f"{share:.0f}%"
        cost = cell(dashboard, row, "cost")
        assert Decimal(cost.split()[0] if cost else "0") == figures["cost"].quantize(
            Decimal("0.01")
        )


def test_sync_latency_of_the_hr_webhooks(dashboard: WebDriver, demo_store: DemoStore) -> None:
    days = expected.hr_latency_days(demo_store.url)
    row = '#sync tr[data-source="webhook:hr"]'
    assert cell(dashboard, row, "events") == str(len(days))
    assert cell(dashboard, row, "last") == f"{days[-1]:.1f}d"
    nearest_rank = sorted(days)[math.ceil(0.95 * len(days)) - 1]
    assert cell(dashboard, row, "p95") == f"{nearest_rank:.1f}d"


def test_an_auditor_token_does_not_open_the_dashboard(ops_server: LiveOps) -> None:
    with ops_server.client("auditor") as client:
        assert client.get("/ops").status_code == 403
    with httpx.Client(base_url=ops_server.url) as client:
        refused = client.post("/ops/login", data={"token": ops_server.tokens["auditor"]})
        assert refused.status_code == 401
        assert "psledger_ops" not in refused.cookies
