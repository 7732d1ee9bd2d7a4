"""The dashboard in headless Chromium: log in, create a paper broker, send a webhook over
HTTP and watch it arrive on the Webhooks page without a reload; create brokers on the fake
Binance, Bitget and Kraken through the form, test their connection, sync and search their
symbols and read their balances. Screenshots are kept in test-artifacts/."""

import json
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Locator, Page, Request, Route, async_playwright, expect

from accounts.users import create_user
from api.static import UI_DIST
from tests.conftest import ARTIFACTS, webhook_path
from tests.venues import FakeVenue
from workers.stack import Stack

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("ARISTOBOT_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        if os.environ.get("ARISTOBOT_TEST_REQUIRE_BROWSER"):
            raise RuntimeError(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
        pytest.skip(f"Chromium not found at {CHROMIUM}")
    assert (UI_DIST / "index.html").exists(), "the dashboard is not built: run `make ui`"
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        yield chromium
        await chromium.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1440, "height": 900})
    page = await context.new_page()
    yield page
    await context.close()


async def log_in(page: Page, stack: Stack) -> tuple[str, str]:
    assert stack.runtime is not None
    username, password = f"ui{secrets.token_hex(3)}", secrets.token_urlsafe(12)
    await create_user(stack.runtime.sessions, username, password)
    await page.goto(stack.url + "/")
    await expect(page.get_by_test_id("login-username")).to_be_visible()
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill("wrong password")
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("login-error")).to_contain_text("wrong username or password")
    await page.get_by_test_id("login-password").fill(password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("logout")).to_be_visible()
    return username, password


async def create_paper_broker(page: Page, name: str) -> dict[str, Any]:
    await page.get_by_test_id("nav-brokers").click()
    await page.get_by_test_id("broker-new").click()
    await page.get_by_test_id("broker-form-name").fill(name)
    await page.get_by_test_id("broker-form-exchange").select_option("paper")
    await page.get_by_test_id("broker-form-mode").select_option("webhooks")
    await page.get_by_test_id("broker-form-balance").fill("2500")
    await page.get_by_test_id("broker-form-submit").click()
    card = page.get_by_test_id("broker-card").filter(has_text=name)
    await expect(card).to_be_visible()
    url = await card.get_by_test_id("broker-webhook-url").input_value()
    assert "/webhooks/tradingview/" in url
    message = await card.get_by_test_id("broker-alert-message").text_content()
    assert message is not None and '"action": "BuyMarket"' in message
    return {"webhook_url": url, "id": int(await card.get_attribute("data-broker-id") or 0)}


async def test_webhook_appears_live_then_order_and_position(page: Page, stack: Stack) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await log_in(page, stack)
    await expect(page.get_by_test_id("status-temporal")).to_contain_text("ok")
    broker = await create_paper_broker(page, "Paper UI")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-brokers.png"), full_page=True)

    await page.get_by_test_id("nav-webhooks").click()
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "open")
    # A marker that a reload would wipe: the row must arrive over the WebSocket.
    await page.evaluate("window.__noReload = true")
    async with httpx.AsyncClient(base_url=stack.url) as http:
        answer = (
            await http.post(
                webhook_path(broker),
                content=b'{"action": "BuyMarket", "symbol": "BTCUSDT", "percent": 40}',
                headers={"content-type": "text/plain"},
            )
        ).json()
    row = page.locator(f'[data-testid="webhook-row"][data-webhook-id="{answer["webhook_id"]}"]')
    await expect(row).to_have_attribute("data-status", "processed", timeout=15_000)
    workflow_url = stack.settings.workflow_url(answer["workflow_id"])
    assert workflow_url is not None
    await expect(row.get_by_test_id("webhook-workflow-link")).to_have_attribute(
        "href", workflow_url
    )
    assert await page.evaluate("window.__noReload") is True, "the page reloaded"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-webhooks.png"), full_page=True)

    await page.get_by_test_id("nav-orders").click()
    order = page.get_by_test_id("order-row").first
    await expect(order).to_have_attribute("data-status", "filled")
    await page.get_by_test_id("nav-positions").click()
    await expect(page.get_by_test_id("position-row")).to_have_count(1)
    await expect(page.get_by_test_id("position-row")).to_contain_text("BTC/USDT")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-positions.png"), full_page=True)


async def test_a_rejected_alert_shows_its_reason(page: Page, stack: Stack) -> None:
    await log_in(page, stack)
    broker = await create_paper_broker(page, "Paper rejects")
    await page.get_by_test_id("nav-webhooks").click()
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "open")
    async with httpx.AsyncClient(base_url=stack.url) as http:
        await http.post(webhook_path(broker), json={"action": "Nope", "symbol": "BTCUSDT"})
    row = page.get_by_test_id("webhook-row").first
    await expect(row).to_have_attribute("data-status", "rejected")
    await expect(row).to_contain_text("unknown action 'Nope'")


async def fill_native_broker(
    page: Page,
    name: str,
    exchange: str,
    *,
    api_key: str,
    api_secret: str,
    passphrase: str = "",
    base_url: str = "",
) -> None:
    await page.get_by_test_id("nav-brokers").click()
    await page.get_by_test_id("broker-new").click()
    await page.get_by_test_id("broker-form-name").fill(name)
    await page.get_by_test_id("broker-form-exchange").select_option(exchange)
    await expect(page.get_by_test_id("broker-form-balance")).to_have_count(0)
    passphrase_field = page.get_by_test_id("broker-form-passphrase")
    await expect(passphrase_field).to_have_count(1 if exchange == "bitget" else 0)
    for testid in ("broker-form-api-key", "broker-form-api-secret"):
        assert await page.get_by_test_id(testid).get_attribute("type") == "password"
        await expect(page.get_by_test_id(testid)).to_have_value("")
    await page.get_by_test_id("broker-form-api-key").fill(api_key)
    await page.get_by_test_id("broker-form-api-secret").fill(api_secret)
    if passphrase:
        await passphrase_field.fill(passphrase)
    if base_url:
        await page.get_by_test_id("broker-form-base-url").fill(base_url)


async def create_native_broker(page: Page, name: str, venue: FakeVenue, **fields: str) -> Locator:
    await fill_native_broker(page, name, venue.name, base_url=venue.url, **fields)
    await page.get_by_test_id("broker-form-submit").click()
    card = page.get_by_test_id("broker-card").filter(has_text=name)
    await expect(card).to_be_visible()
    await expect(card.get_by_test_id("broker-base-url")).to_have_text(venue.url)
    return card


async def session_cookies(page: Page) -> dict[str, str]:
    return {c["name"]: c["value"] for c in await page.context.cookies()}


async def test_binance_broker_from_the_form_test_sync_search_balances(
    page: Page, stack: Stack, fake_exchanges: dict[str, FakeVenue]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    venue = fake_exchanges["binance"]
    account = venue.fake.add_account({"USDT": "500"})
    await log_in(page, stack)
    await fill_native_broker(
        page,
        "Binance UI",
        "binance",
        api_key=account.api_key,
        api_secret=account.api_secret,
        base_url=venue.url,
    )
    await expect(page.get_by_test_id("broker-form-base-url-hint")).to_contain_text(
        "https://testnet.binance.vision"
    )
    await page.screenshot(path=str(ARTIFACTS / "dashboard-broker-form-binance.png"))
    await page.get_by_test_id("broker-form-submit").click()
    card = page.get_by_test_id("broker-card").filter(has_text="Binance UI")
    await expect(card.get_by_test_id("broker-base-url")).to_have_text(venue.url)
    broker_id = int(await card.get_attribute("data-broker-id") or 0)

    await card.get_by_test_id("broker-test-connection").click()
    result = card.get_by_test_id("broker-test-result")
    await expect(result).to_have_attribute("data-ok", "true")
    await expect(result).to_contain_text("Connected")
    await expect(result).to_contain_text(" ms")

    await expect(card.get_by_test_id("symbol-sync")).to_have_attribute("data-status", "never")
    await card.get_by_test_id("broker-sync-symbols").click()
    sync = card.get_by_test_id("symbol-sync")
    await expect(sync).to_have_attribute("data-status", "done", timeout=20_000)
    await expect(card.get_by_test_id("symbol-sync-progress")).to_have_attribute(
        "data-percent", "100"
    )
    await expect(card.get_by_test_id("symbol-sync-status")).to_have_text("done")
    total = len(venue.fake.ledger.markets)
    await expect(card.get_by_test_id("symbol-sync-count")).to_have_text(f"{total} / {total}")
    async with httpx.AsyncClient(base_url=stack.url, cookies=await session_cookies(page)) as http:
        latest = (await http.get(f"/api/brokers/{broker_id}/symbols/sync")).json()
    assert latest["status"] == "done"
    await expect(card.get_by_test_id("symbol-sync-workflow")).to_have_attribute(
        "href", stack.settings.workflow_url(latest["workflow_id"]) or ""
    )

    await card.get_by_test_id("symbol-search-input").fill("BTC")
    first = card.get_by_test_id("symbol-row").first
    await expect(first).to_have_attribute("data-symbol", "BTC/USDT")
    await expect(first).to_contain_text("0.00001")  # amount step
    await expect(first).to_contain_text("0.01")  # price tick
    await expect(first).to_contain_text("5USDT")  # min notional
    await card.get_by_test_id("symbol-search-input").fill("NOPE")
    await expect(card.get_by_test_id("symbol-search-empty")).to_be_visible()
    await card.get_by_test_id("symbol-search-input").fill("BTC")
    await expect(card.get_by_test_id("symbol-row").first).to_have_attribute(
        "data-symbol", "BTC/USDT"
    )

    await card.get_by_test_id("broker-show-balances").click()
    usdt = card.locator('[data-testid="balance-row"][data-asset="USDT"]')
    await expect(usdt).to_contain_text("500")
    await expect(card.get_by_test_id("balances-total")).to_have_text("500USDT")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-broker-binance.png"), full_page=True)


async def test_bitget_without_passphrase_is_refused_readably(
    page: Page, stack: Stack, fake_exchanges: dict[str, FakeVenue]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    venue = fake_exchanges["bitget"]
    account = venue.fake.add_account({"USDT": "100"})
    await log_in(page, stack)
    posts: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/api/brokers"):
            posts.append(request.url)

    page.on("request", on_request)
    await fill_native_broker(
        page,
        "Bitget no pass",
        "bitget",
        api_key=account.api_key,
        api_secret=account.api_secret,
        base_url=venue.url,
    )
    await page.get_by_test_id("broker-form-submit").click()
    error = page.get_by_test_id("broker-form-error")
    await expect(error).to_contain_text("Bitget needs the API passphrase")
    passphrase = page.get_by_test_id("broker-form-passphrase")
    await expect(passphrase).to_have_attribute("aria-invalid", "true")
    await expect(passphrase).to_be_focused()
    assert posts == [], "the form sent a broker it knew the server refuses"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-broker-form-bitget-refused.png"))

    # The server refuses it too (422): its answer is shown in the form's words, not as JSON.
    async def drop_passphrase(route: Route) -> None:
        body = route.request.post_data_json
        assert body is not None
        body["credentials"]["passphrase"] = ""
        await route.continue_(post_data=json.dumps(body))

    await page.route("**/api/brokers", drop_passphrase)
    await passphrase.fill("typed, then lost")
    async with page.expect_response("**/api/brokers") as answer:
        await page.get_by_test_id("broker-form-submit").click()
    assert (await answer.value).status == 422
    await expect(error).to_have_text("Bitget needs the API passphrase.")
    await expect(passphrase).to_have_attribute("aria-invalid", "true")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-broker-form-bitget-422.png"))
    await page.get_by_test_id("broker-form-cancel").click()
    await expect(page.get_by_test_id("broker-card")).to_have_count(0)


async def test_wrong_secret_shows_authentication_failed(
    page: Page, stack: Stack, fake_venue: FakeVenue
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    account = fake_venue.fake.add_account({"USDT": "100"})
    secret = fake_venue.fake.add_account().api_secret  # well-formed, but another account's
    await log_in(page, stack)
    card = await create_native_broker(
        page,
        f"{fake_venue.name} wrong secret",
        fake_venue,
        api_key=account.api_key,
        api_secret=secret,
        passphrase=account.passphrase if fake_venue.name == "bitget" else "",
    )
    await card.get_by_test_id("broker-test-connection").click()
    result = card.get_by_test_id("broker-test-result")
    await expect(result).to_have_attribute("data-ok", "false")
    await expect(result).to_contain_text("Failed")
    await expect(result).to_contain_text("authentication failed")
    await card.get_by_test_id("broker-show-balances").click()
    refused = card.get_by_test_id("broker-balances-error")
    await expect(refused).to_contain_text("did not give the balances")
    await expect(refused).to_contain_text("authentication failed")
    await page.screenshot(
        path=str(ARTIFACTS / f"dashboard-broker-{fake_venue.name}-auth-failed.png"),
        full_page=True,
    )

    # Fixed through Edit: the stored secrets are never shown, and are replaced as a whole.
    await card.get_by_test_id("broker-edit").click()
    key_field = page.get_by_test_id("broker-form-api-key")
    await expect(key_field).to_have_value("")
    await expect(key_field).to_have_attribute("placeholder", re.compile("stored"))
    await expect(page.get_by_test_id("broker-form-api-secret")).to_have_value("")
    await page.get_by_test_id("broker-form-api-secret").fill(account.api_secret)
    await page.get_by_test_id("broker-form-submit").click()
    await expect(page.get_by_test_id("broker-form-error")).to_contain_text(
        "enter both the API key and the secret"
    )
    await key_field.fill(account.api_key)
    if fake_venue.name == "bitget":
        await page.get_by_test_id("broker-form-passphrase").fill(account.passphrase)
    await page.get_by_test_id("broker-form-submit").click()
    await expect(page.get_by_test_id("broker-form-submit")).to_have_count(0)
    await expect(result).to_have_count(0)  # the old answer is gone with the old secret
    await card.get_by_test_id("broker-test-connection").click()
    await expect(result).to_have_attribute("data-ok", "true")
    usdt = card.locator('[data-testid="balance-row"][data-asset="USDT"]')
    await expect(usdt).to_contain_text("100")


async def test_sync_progress_is_polled_when_the_live_feed_is_silent(
    page: Page, stack: Stack, fake_exchanges: dict[str, FakeVenue]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    venue = fake_exchanges["binance"]
    account = venue.fake.add_account({"USDT": "50"})
    # The WebSocket opens but never says anything: progress must come from GET .../sync.
    await page.route_web_socket("**/api/ws", lambda ws: None)
    await log_in(page, stack)
    card = await create_native_broker(
        page, "Binance quiet", venue, api_key=account.api_key, api_secret=account.api_secret
    )
    polls: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "GET" and request.url.endswith("/symbols/sync"):
            polls.append(request.url)

    page.on("request", on_request)
    venue.fake.faults.arm("latency", "GET", "/api/v3/exchangeInfo", seconds=1.5)
    try:
        await card.get_by_test_id("broker-sync-symbols").click()
        sync = card.get_by_test_id("symbol-sync")
        await expect(sync).to_have_attribute("data-status", "running")
        await expect(card.get_by_test_id("broker-sync-symbols")).to_be_disabled()
        await page.screenshot(path=str(ARTIFACTS / "dashboard-symbol-sync-running.png"))
        await expect(sync).to_have_attribute("data-status", "done", timeout=20_000)
    finally:
        venue.fake.faults.clear()
    await expect(card.get_by_test_id("symbol-sync-progress")).to_have_attribute(
        "data-percent", "100"
    )
    assert len(polls) >= 2, polls  # the first look, then at least one poll while running
