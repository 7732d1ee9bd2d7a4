"""The dashboard in headless Chromium: log in, create a paper broker, send a webhook over
HTTP and watch it arrive on the Webhooks page without a reload. Screenshots are kept in
test-artifacts/."""

import os
import secrets
import shutil
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from accounts.users import create_user
from api.static import UI_DIST
from tests.conftest import ARTIFACTS, webhook_path
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
