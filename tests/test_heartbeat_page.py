"""The Heartbeat page in headless Chromium: the feed's status (simulated market, lag,
reconnects), and per timeframe the stored closed candles of the chosen symbol drawn as
history (orange); a candle stored while the page is open appears as live (green) without a
reload (the 15 s fallback poll when no push brings it). Screenshots are kept in
test-artifacts/."""

import secrets
from datetime import timedelta
from decimal import Decimal

import pytest
from playwright.async_api import Page, expect

from db.base import utcnow
from exchanges.types import Candle
from market.candle_store import store_closed
from market.feed_status import FeedState, save_feed_status
from tests.conftest import ARTIFACTS
from tests.test_dashboard import browser, log_in, page  # noqa: F401 (fixtures)
from workers.stack import Stack

pytestmark = pytest.mark.browser
HISTORY = 30


def minute_candles(first: int, count: int) -> list[Candle]:
    """`count` closed 1m candles, the first `first` minutes before the current minute."""
    start = utcnow().replace(second=0, microsecond=0) - timedelta(minutes=first)
    candles = []
    for i in range(count):
        base = Decimal(100 + i)
        candles.append(
            Candle(
                open_time=start + timedelta(minutes=i),
                open=base,
                high=base + 3,
                low=base - 2,
                close=base + (1 if i % 2 else -1),
                volume=Decimal("1.5"),
            )
        )
    return candles


async def store(stack: Stack, symbol: str, timeframe: str, candles: list[Candle]) -> int:
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        return await store_closed(session, symbol, timeframe, candles, "binance")


async def test_history_orange_then_a_new_candle_live_green(
    page: Page,  # noqa: F811
    stack: Stack,
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    assert stack.runtime is not None
    symbol = f"HB{secrets.token_hex(3).upper()}/USDT"
    candles = minute_candles(HISTORY + 2, HISTORY + 1)
    assert await store(stack, symbol, "1m", candles[:HISTORY]) == HISTORY
    await save_feed_status(
        stack.runtime.sessions,
        FeedState(
            mode="simulated",
            connected=True,
            streams=["btcusdt@kline_1m"],
            last_message_at=utcnow(),
            lag_ms=120,
            reconnects=2,
        ),
    )

    await log_in(page, stack)
    await page.get_by_test_id("nav-heartbeat").click()
    cards = page.get_by_test_id("candle-cards")
    await expect(cards).to_have_attribute("data-symbol", "BTC/USDT")
    await expect(page.get_by_test_id("candle-card")).to_have_count(6)

    # The feed's status.
    feed = page.get_by_test_id("feed-status")
    await expect(feed).to_have_attribute("data-mode", "simulated")
    await expect(feed).to_have_attribute("data-connected", "true")
    await expect(feed.get_by_test_id("feed-mode")).to_have_text("SIMULATED market")
    await expect(feed.get_by_test_id("feed-connection")).to_contain_text("connected")
    await expect(feed.get_by_test_id("feed-lag")).to_have_text("120 ms")
    await expect(feed.get_by_test_id("feed-reconnects")).to_have_text("2")

    # Another symbol: its stored 1m candles are history, drawn orange.
    await page.get_by_test_id("heartbeat-symbol").fill(symbol.replace("/", "").lower())
    await page.get_by_test_id("heartbeat-symbol").press("Enter")
    await expect(cards).to_have_attribute("data-symbol", symbol)
    minute = page.locator('[data-testid="candle-card"][data-timeframe="1m"]')
    await expect(minute.locator('svg [data-kind="history"]')).to_have_count(HISTORY)
    await expect(minute.locator('svg [data-kind="live"]')).to_have_count(0)
    await expect(minute.get_by_test_id("candle-history-count")).to_have_text(str(HISTORY))
    await expect(minute.get_by_test_id("candle-live-count")).to_have_text("0")
    await expect(minute.get_by_test_id("candle-row")).to_have_count(5)
    last = candles[HISTORY - 1]
    await expect(minute.get_by_test_id("candle-last-close")).to_have_text(str(last.close))
    colour = await minute.locator('svg [data-kind="history"] rect').first.evaluate(
        "el => getComputedStyle(el).stroke"
    )
    assert colour == "rgb(255, 176, 32)"  # --color-warning: orange
    hour = page.locator('[data-testid="candle-card"][data-timeframe="1h"]')
    await expect(hour).to_contain_text("No closed candle stored yet.")
    await page.evaluate("window.__noReload = true")

    # One more closed candle stored: it arrives as live, green, at the right end.
    assert await store(stack, symbol, "1m", candles[HISTORY:]) == 1
    live = minute.locator('svg [data-kind="live"]')
    await expect(live).to_have_count(1, timeout=25_000)
    await expect(minute.get_by_test_id("candle-live-count")).to_have_text("1")
    await expect(minute.locator('svg [data-kind="history"]')).to_have_count(HISTORY)
    newest = candles[HISTORY]
    await expect(minute.get_by_test_id("candle-row").first).to_have_attribute("data-kind", "live")
    await expect(minute.get_by_test_id("candle-last-close")).to_have_text(str(newest.close))
    assert await live.locator("rect").evaluate("el => getComputedStyle(el).stroke") == (
        "rgb(0, 255, 136)"  # --color-success: green
    )
    kinds = await minute.locator("svg [data-kind]").evaluate_all(
        "els => els.map(el => el.dataset.kind)"
    )
    assert kinds == ["history"] * HISTORY + ["live"]
    assert await page.evaluate("window.__noReload") is True, "the page reloaded"
    await page.screenshot(path=str(ARTIFACTS / "heartbeat.png"), full_page=True)


async def test_a_silent_live_feed_falls_back_to_polling(
    page: Page,  # noqa: F811
    stack: Stack,
) -> None:
    """The WebSocket opens but never says anything: the 15 s poll finds the new candle."""
    symbol = f"HB{secrets.token_hex(3).upper()}/USDT"
    candles = minute_candles(12, 11)
    assert await store(stack, symbol, "1m", candles[:10]) == 10
    await page.route_web_socket("**/api/ws", lambda ws: None)
    await log_in(page, stack)
    await page.goto(f"{stack.url}/heartbeat?symbol={symbol}")
    minute = page.locator('[data-testid="candle-card"][data-timeframe="1m"]')
    await expect(minute.locator('svg [data-kind="history"]')).to_have_count(10)
    polls: list[str] = []
    page.on(
        "request",
        lambda request: polls.append(request.url) if "/api/candles?" in request.url else None,
    )
    assert await store(stack, symbol, "1m", candles[10:]) == 1
    await expect(minute.locator('svg [data-kind="live"]')).to_have_count(1, timeout=25_000)
    await expect(minute.get_by_test_id("candle-live-count")).to_have_text("1")
    await expect(minute.locator('svg [data-kind="history"]')).to_have_count(10)
    # One poll per timeframe card, each asking only for the few candles it may be missing.
    assert len(polls) >= 6, polls
    assert all("limit=" in url for url in polls)
    assert any("timeframe=1m" in url and "limit=240" not in url for url in polls), polls
