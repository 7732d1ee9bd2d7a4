"""The Trading page in headless Chromium: pick a paper broker and a symbol, type a quote
amount, validate, watch the preview and its countdown, execute, read the result, then see
the position (and its P&L) on the Positions page. Then a resting limit edited and
canceled from the open-orders list, and a confirmation left to expire."""

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from playwright.async_api import Page, expect

from api.order_tokens import OrderTokens, confirmation_key
from tests import test_dashboard as dashboard
from tests.conftest import ARTIFACTS
from tests.fakes.binance_market import MarketState
from tests.test_dashboard import create_paper_broker, log_in
from workers.stack import Stack

pytestmark = pytest.mark.browser
# The dashboard tests' Chromium and page fixtures.
browser, page = dashboard.browser, dashboard.page


async def open_ticket(page: Page, stack: Stack, name: str, symbol: str) -> int:
    """Logs in, makes a paper broker (2,500 USDT), opens /trading and picks `symbol`."""
    await log_in(page, stack)
    broker = await create_paper_broker(page, name)
    await page.get_by_test_id("nav-trading").click()
    await page.get_by_test_id("trading-broker").select_option(str(broker["id"]))
    await expect(page.get_by_test_id("broker-balances")).to_contain_text("2,500")
    await page.get_by_test_id("symbol-search-input").fill(symbol)
    # A paper broker never synced: the page fills its symbol list first, then finds it.
    row = page.locator(f'[data-testid="symbol-row"][data-symbol="{symbol}"]')
    await row.click(timeout=20_000)
    await expect(page.get_by_test_id("trading-symbol")).to_have_attribute("data-symbol", symbol)
    await expect(page.get_by_test_id("order-form")).to_be_visible()
    return int(broker["id"])


async def test_a_market_buy_from_the_trading_page(
    page: Page, stack: Stack, market: tuple[MarketState, str]
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    market[0].set_price("BTCUSDT", "50000")
    await open_ticket(page, stack, "Paper trading", "BTC/USDT")
    await expect(page.get_by_test_id("order-minimum")).to_contain_text("5USDT")
    await page.get_by_test_id("order-quote").fill("100")
    # The calculator: 100 USDT at 50,000 is 0.002 BTC (on the 0.00001 lot step).
    await expect(page.get_by_test_id("order-quantity")).to_have_value("0.002")
    await page.get_by_test_id("order-validate").click()

    preview = page.get_by_test_id("order-preview")
    await expect(preview).to_be_visible()
    await expect(preview.get_by_test_id("preview-quantity")).to_contain_text("0.002BTC")
    await expect(preview.get_by_test_id("preview-notional")).to_contain_text("100USDT")
    await expect(preview.get_by_test_id("preview-countdown")).to_contain_text("s to confirm")
    await page.screenshot(path=str(ARTIFACTS / "trading-preview.png"), full_page=True)
    await preview.get_by_test_id("order-execute").click()

    result = page.get_by_test_id("order-result").first
    await expect(result).to_have_attribute("data-status", "filled", timeout=15_000)
    await expect(result.get_by_test_id("order-result-text")).to_contain_text(
        "bought 0.002 BTC at 50000 USDT"
    )
    await expect(page.get_by_test_id("order-preview")).to_have_count(0)
    history = page.get_by_test_id("history-row").first
    await expect(history).to_have_attribute("data-status", "filled")
    await expect(page.locator('[data-testid="balance-row"][data-asset="BTC"]')).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "trading-filled.png"), full_page=True)

    market[0].set_price("BTCUSDT", "52000")
    await page.get_by_test_id("nav-positions").click()
    position = page.get_by_test_id("position-row")
    await expect(position).to_have_count(1)
    await expect(position).to_contain_text("BTC/USDT")
    # 0.001998 BTC held (fee in BTC) bought for 100 USDT, now worth 103.896: +3.90 USDT.
    await expect(position.get_by_test_id("position-unrealized")).to_contain_text("+3.9")
    await page.screenshot(path=str(ARTIFACTS / "trading-position.png"), full_page=True)


async def test_a_resting_limit_is_edited_then_canceled(
    page: Page, stack: Stack, market: tuple[MarketState, str]
) -> None:
    market[0].set_price("ETHUSDT", "2500")
    await open_ticket(page, stack, "Paper limits", "ETH/USDT")
    await page.get_by_test_id("order-type-limit").click()
    await page.get_by_test_id("order-price").fill("1500")
    await page.get_by_test_id("order-quantity").fill("0.2")
    await expect(page.get_by_test_id("order-quote")).to_have_value("300")
    await page.get_by_test_id("order-validate").click()
    await page.get_by_test_id("order-execute").click()
    await expect(page.get_by_test_id("order-result").first).to_have_attribute("data-status", "open")

    row = page.get_by_test_id("open-order-row")
    await expect(row).to_have_count(1)
    await row.get_by_test_id("open-order-edit").click()
    await row.get_by_test_id("open-order-price").fill("1600")
    await row.get_by_test_id("open-order-save").click()
    edited = page.get_by_test_id("open-orders-result")
    await expect(edited).to_have_attribute("data-status", "open")
    await expect(edited).to_contain_text("replaced by order")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("1,600")

    await row.get_by_test_id("open-order-cancel").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("open-orders-result")).to_have_attribute(
        "data-status", "canceled"
    )
    await expect(row).to_have_count(0)
    # The original (canceled by the edit) and its replacement; nothing locked any more.
    await expect(page.get_by_test_id("history-row")).to_have_count(2)
    usdt = page.locator('[data-testid="balance-row"][data-asset="USDT"]')
    await expect(usdt.locator("td").nth(1)).to_have_text("2,500")  # free
    await expect(usdt.locator("td").nth(2)).to_have_text("0")  # locked
    await page.screenshot(path=str(ARTIFACTS / "trading-limit-canceled.png"), full_page=True)


@pytest.fixture
def short_window(stack: Stack) -> Iterator[None]:
    """Confirmations valid 2 s instead of 15, so the test sees one expire."""
    assert stack.server is not None
    app = stack.server.config.app
    assert isinstance(app, FastAPI)
    state = app.state
    state.order_tokens = OrderTokens(confirmation_key(stack.settings), timedelta(seconds=2))
    yield
    state.order_tokens = None


async def test_an_expired_confirmation_must_be_validated_again(
    page: Page, stack: Stack, short_window: None
) -> None:
    await open_ticket(page, stack, "Paper slow hands", "SOL/USDT")
    await page.get_by_test_id("order-pct-25").click()
    await expect(page.get_by_test_id("order-quote")).to_have_value("625")
    await page.get_by_test_id("order-validate").click()
    preview = page.get_by_test_id("order-preview")
    await expect(preview).to_have_attribute("data-expired", "true", timeout=5_000)
    await expect(preview.get_by_test_id("order-execute")).to_have_count(0)
    await expect(preview.get_by_test_id("preview-countdown")).to_have_text("confirmation expired")
    await preview.get_by_test_id("order-validate-again").click()
    await expect(page.get_by_test_id("order-preview")).to_have_count(0)
    await page.get_by_test_id("order-validate").click()
    await expect(page.get_by_test_id("order-preview")).to_have_attribute("data-expired", "false")
