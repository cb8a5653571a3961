"""The trainers' live view in a real browser (Debian's chromium, headless, driven by Playwright)
against a real stack: mocks, gateway and live view as OS processes on free ports.

Screenshots are kept as artefacts under ``.ndxp/artifacts/liveview/`` (the path is printed).
Without ``/usr/bin/chromium`` these tests fail, saying how to install it (``.ci/run`` does).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from connectors.client import NdxpClient
from connectors.flows import FLOWS, FlowOptions, FlowResult, record_event
from connectors.provinces import FlowName, find_system
from gateway.registry import load_registry
from mock_services.population import sample_ids
from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / ".ndxp" / "artifacts" / "liveview"
WAIT_MS = 60_000  # bounds a hang only; every wait is on a condition
QUANG_BINH, THANH_HOA = "044", "038"
FAILING = ("degraded", "failed")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("live") / "state", live=True) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the live view's browser tests need Debian's chromium "
            "(apt-get install -y chromium; .ci/run installs it when missing)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, stack: Stack) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(stack.live_url)
    opened.wait_for_selector("body[data-ready=true]", timeout=WAIT_MS)
    expect(opened.locator("#conn")).to_have_attribute("data-state", "live", timeout=WAIT_MS)
    yield opened
    context.close()
    assert errors == [], f"the page raised: {errors}"


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


def run_flow(stack: Stack, flow: FlowName, province: str) -> FlowResult:
    """One provincial flow through the gateway with the SDK, in its own thread and loop."""

    async def run() -> FlowResult:
        system = find_system(stack.settings, province)
        async with NdxpClient(
            stack.gateway_url,
            system.client_id,
            system.client_secret,
            on_event=record_event,
            max_attempts=1,
        ) as ndxp:
            return await FLOWS[flow](ndxp, system, seed=15, options=FlowOptions(max_wait_s=5))

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def rows_of(page: Page, exchange_ids: list[str]) -> dict[str, str]:
    """Exchange id → the colour the selection table shows it in (only the ids it shows)."""
    found: dict[str, str] = page.eval_on_selector_all(
        "#recent tbody tr",
        "rows => Object.fromEntries(rows.map(r => [r.dataset.exchange, r.dataset.colour]))",
    )
    return {eid: found[eid] for eid in exchange_ids if eid in found}


def test_the_page_shows_every_national_database_and_the_63_provinces(
    page: Page, stack: Stack
) -> None:
    registry = load_registry(stack.settings)
    provinces = sorted(c.province for c in registry.consumers if c.province)
    tiles = page.eval_on_selector_all(".tile", "tiles => tiles.map(t => t.dataset.code)")
    databases = page.eval_on_selector_all(".node.database", "nodes => nodes.map(n => n.dataset.db)")
    assert len(tiles) == 63
    assert sorted(tiles) == provinces
    assert databases == [p.name for p in registry.providers]
    table = page.eval_on_selector_all("#db-table tbody tr", "rows => rows.map(r => r.dataset.db)")
    assert table == databases
    # Keyboard: a tile is reachable and selects with Enter; its name is in its ARIA label.
    page.locator(f'.tile[data-code="{provinces[0]}"]').focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Enter")
    second = page.locator(f'.tile[data-code="{provinces[1]}"]')
    expect(second).to_have_attribute("aria-pressed", "true")
    assert "one-stop system" in (second.get_attribute("aria-label") or "")
    # The language toggle relabels the page.
    page.click("#lang")
    expect(page.locator("#tab-flow")).to_have_text("Chạy quy trình")
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    page.click("#lang")
    expect(page.locator("#tab-flow")).to_have_text("Flow runner")
    screenshot(page, "topology")


def test_exchanges_appear_on_the_page_as_they_happen(page: Page, stack: Stack) -> None:
    before = page.evaluate("window.__live.received")
    page.click(f'.tile[data-code="{THANH_HOA}"]')
    system = find_system(stack.settings, THANH_HOA)
    token = httpx.post(
        f"{stack.gateway_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": system.client_id,
            "client_secret": system.client_secret,
        },
    ).json()["access_token"]
    exchange_ids = []
    for personal_id in sample_ids(stack.settings.mocks.seed, THANH_HOA, 3):
        response = httpx.get(
            f"{stack.gateway_url}/population/v1/citizens/{personal_id}",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200
        exchange_ids.append(response.headers["X-NDXP-Exchange-Id"])
    page.wait_for_function(f"window.__live.received >= {before + 3}", timeout=WAIT_MS)
    for exchange_id in exchange_ids:
        row = page.locator(f'#recent tbody tr[data-exchange="{exchange_id}"]')
        expect(row).to_have_attribute("data-colour", "ok", timeout=WAIT_MS)
    # A row opens its record.
    page.click(f'#recent tbody tr[data-exchange="{exchange_ids[0]}"]')
    expect(page.locator("#record")).to_contain_text(exchange_ids[0])
    expect(page.locator("#record")).to_contain_text("population.get_citizen")
    tile = page.locator(f'.tile[data-code="{THANH_HOA}"]')
    assert "Thanh Hóa" in (tile.get_attribute("aria-label") or "")
    screenshot(page, "live-traffic")


def test_a_flow_run_shows_every_hop_one_at_a_time(page: Page, stack: Stack) -> None:
    page.click("#tab-flow")
    page.select_option("#flow-name", "household_verification")
    page.select_option("#flow-province", THANH_HOA)
    page.click("#flow-start")
    hops = page.locator("#hops > li")
    expect(hops).to_have_count(1, timeout=WAIT_MS)  # paused before the second hop
    expect(page.locator("#flow-next")).to_be_enabled(timeout=WAIT_MS)
    expect(hops.first).to_contain_text("population.get_citizen")
    expect(hops.first).to_contain_text("quota left")
    page.click("#flow-next")
    expect(page.locator("#flow-status [data-outcome]")).to_be_visible(timeout=WAIT_MS)
    run_id = page.evaluate("window.__live.flowRun.id")
    run = httpx.get(f"{stack.live_url}/api/flows/{run_id}").json()
    shown = page.eval_on_selector_all("#hops > li", "hops => hops.map(h => h.dataset.service)")
    assert run["finished"]
    assert shown == [step["service"] for step in run["steps"]]
    assert len(shown) >= 2
    for index, step in enumerate(run["steps"]):
        hop = hops.nth(index)
        expect(hop).to_contain_text(f"{step['status']}")  # the answer's status
        for exchange_id in step["exchange_ids"]:
            expect(hop).to_contain_text(exchange_id)
        expect(hop).to_contain_text("Thanh Hóa one-stop system → NDXP gateway →")
    outcome = page.locator("#flow-status [data-outcome]").get_attribute("data-outcome")
    assert outcome == run["result"]["outcome"]
    screenshot(page, "flow-runner")


def test_switching_to_fm_03_turns_quang_binh_business_registry_exchanges_into_failures(
    page: Page, stack: Stack
) -> None:
    baseline = run_flow(stack, "business_sync", QUANG_BINH)
    page.click(f'.tile[data-code="{QUANG_BINH}"]')
    business = [
        eid
        for step in baseline.steps
        if step.provider == "business-registry"
        for eid in step.exchange_ids
    ]
    assert business
    page.wait_for_function(
        f"document.querySelectorAll('#recent tbody tr[data-exchange=\"{business[-1]}\"]').length",
        timeout=WAIT_MS,
    )
    assert not set(rows_of(page, business).values()) & set(FAILING)

    page.fill("#token", stack.admin_token)
    page.click("#token-form button")
    expect(page.locator("#token-state")).to_have_class("o-ok", timeout=WAIT_MS)
    page.click("#tab-scenarios")
    page.select_option("#scenario-select", "fm-03")
    page.click("#scenario-switch")
    try:
        expect(page.locator("#run-now")).to_have_attribute(
            "data-scenario", "fm-03", timeout=WAIT_MS
        )
        broken = run_flow(stack, "business_sync", QUANG_BINH)
        spoiled = [
            eid
            for step in broken.steps
            if step.provider == "business-registry"
            for eid in step.exchange_ids
        ]
        assert spoiled
        page.click(f'.tile[data-code="{QUANG_BINH}"]')
        row = page.locator(f'#recent tbody tr[data-exchange="{spoiled[0]}"]')
        expect(row).to_be_visible(timeout=WAIT_MS)
        colours = rows_of(page, spoiled)
        assert colours[spoiled[0]] in FAILING
        expect(row).to_contain_text("FM-03")
        expect(page.locator('#fm-counts li[data-fm="FM-03"]')).to_be_visible(timeout=WAIT_MS)
        screenshot(page, "fm-03-quang-binh")
    finally:
        httpx.delete(f"{stack.gateway_url}/admin/scenario", headers=stack.admin_headers)
