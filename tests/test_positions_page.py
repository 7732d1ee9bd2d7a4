"""The Positions page and its live prices: GET /api/positions carries what the page needs
(cost basis, fees, protection), /api/ws pushes the prices of each user's open positions,
and in Chromium the unrealized P&L follows the market without any reload; the Webhooks
page's stats cards count the alerts. Screenshots are kept in test-artifacts/."""

import asyncio
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import pytest
import websockets
from playwright.async_api import Page, Request, Route, expect
from sqlalchemy import select

from api.price_feed import PriceFeed
from api.sessions import COOKIE_NAME
from db.events import emit
from db.models import Position
from tests.conftest import ARTIFACTS, ApiUser, eventually, webhook_path
from tests.fakes.binance_market import MarketState
from tests.test_dashboard import (  # noqa: F401 (fixtures)
    browser,
    create_paper_broker,
    log_in,
    page,
    session_cookies,
)
from workers.stack import Stack


async def add_position(
    stack: Stack, user: ApiUser, broker: dict[str, Any], symbol: str, status: str = "open"
) -> int:
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        position = Position(
            user_id=user.id,
            broker_id=broker["id"],
            symbol=symbol,
            status=status,
            quantity=Decimal(2),
            entry_price=Decimal(2500),
            cost_basis=Decimal("5000.5"),
            bought_quantity=Decimal(2),
            fees_paid=Decimal("0.5"),
        )
        session.add(position)
        await session.flush()
        return position.id


async def next_prices(ws: Any) -> dict[str, Decimal]:
    """The next push, flattened to {symbol: price} (the tests use one broker per user)."""
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if message["topic"] == "prices":
            return {
                symbol: Decimal(price)
                for prices in message["data"].values()
                for symbol, price in prices.items()
            }


def ws_of(stack: Stack, user: ApiUser) -> Any:
    url = stack.url.replace("http://", "ws://") + "/api/ws"
    cookie = user.http.cookies.get(COOKIE_NAME)
    return websockets.connect(url, additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"})


async def test_open_positions_and_their_prices_pushed_per_user(
    stack: Stack, make_user: Any, market: tuple[MarketState, str]
) -> None:
    state = market[0]
    state.set_price("ETHUSDT", "2500")
    alice, bob = await make_user(), await make_user()
    broker, bobs = await alice.create_broker(), await bob.create_broker()
    await add_position(stack, alice, broker, "ETH/USDT")
    await add_position(stack, alice, broker, "BNB/USDT", status="closed")
    await add_position(stack, bob, bobs, "XRP/USDT")

    body = (await alice.http.get("/api/positions", params={"status": "open"})).json()
    assert [p["symbol"] for p in body["items"]] == ["ETH/USDT"]
    eth = body["items"][0]
    assert Decimal(eth["cost_basis"]) == Decimal("5000.5")
    assert Decimal(eth["fees_paid"]) == Decimal("0.5")
    assert (eth["protection"], eth["protection_error"]) == ("none", None)
    assert Decimal(eth["current_price"]) == 2500
    assert Decimal(eth["unrealized_pnl"]) == Decimal("-0.5")  # 2 x 2500 - 5000.5

    async with ws_of(stack, alice) as alice_ws, ws_of(stack, bob) as bob_ws:
        assert await next_prices(alice_ws) == {"ETH/USDT": Decimal(2500)}
        assert set(await next_prices(bob_ws)) == {"XRP/USDT"}
        state.set_price("ETHUSDT", "2612.5")
        assert await next_prices(alice_ws) == {"ETH/USDT": Decimal("2612.5")}
        # One batched lookup per 2 s tick for both users' symbols, not one per user.
        before = state.ticker_requests
        await asyncio.sleep(4.5)
        assert state.ticker_requests - before <= 3


def shown(value: Decimal, dp: int, signed: bool = False) -> str:
    """What DecimalText displays: rounded half-up, grouped, trailing zeros trimmed."""
    text = f"{value.quantize(Decimal(1).scaleb(-dp), ROUND_HALF_UP):,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"+{text}" if signed and value > 0 else text


async def send_alert(stack: Stack, broker: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack.url) as http:
        answer: dict[str, Any] = (await http.post(webhook_path(broker), json=body)).json()
        return answer


@pytest.mark.browser
async def test_positions_page_follows_the_market_and_stats_count_alerts(
    page: Page,  # noqa: F811
    stack: Stack,
    market: tuple[MarketState, str],
) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    state = market[0]
    state.set_price("SOLUSDT", "150")
    await log_in(page, stack)
    broker = await create_paper_broker(page, "Paper positions")

    # Webhooks page: the stats cards count the alerts as they arrive.
    await page.get_by_test_id("nav-webhooks").click()
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "open")
    stats = page.get_by_test_id("webhook-stats")

    def card(name: str) -> Any:
        return stats.get_by_test_id(f"stats-{name}").locator(".value")

    await expect(card("total")).to_have_text("0")
    await expect(card("success-rate")).to_have_text("—")
    answer = await send_alert(stack, broker, {"action": "BuyMarket", "symbol": "SOLUSDT"})
    row = page.locator(f'[data-testid="webhook-row"][data-webhook-id="{answer["webhook_id"]}"]')
    await expect(row).to_have_attribute("data-status", "processed", timeout=15_000)
    await expect(card("processed")).to_have_text("1")
    await expect(card("success-rate")).to_have_text("100%")
    await expect(card("open-positions")).to_have_text("1")
    await send_alert(stack, broker, {"action": "Nope", "symbol": "SOLUSDT"})
    await expect(card("rejected")).to_have_text("1")
    await expect(card("total")).to_have_text("2")
    await expect(card("success-rate")).to_have_text("50%")
    await page.get_by_test_id("webhook-stats-window-7d").click()
    await expect(stats).to_have_attribute("data-window", "7d")
    await expect(card("total")).to_have_text("2")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-webhook-stats.png"), full_page=True)

    # Positions page: entry, quantity, and the unrealized P&L following the market.
    await page.get_by_test_id("nav-positions").click()
    position_row = page.get_by_test_id("position-row")
    await expect(position_row).to_have_count(1)
    async with httpx.AsyncClient(base_url=stack.url, cookies=await session_cookies(page)) as http:
        position = (await http.get("/api/positions", params={"status": "open"})).json()["items"][0]
    qty, cost = Decimal(position["quantity"]), Decimal(position["cost_basis"])
    await expect(position_row).to_contain_text("SOL/USDT")
    await expect(position_row.get_by_test_id("position-entry")).to_have_text("150")
    await expect(position_row.get_by_test_id("position-quantity")).to_have_text(shown(qty, 8))
    await expect(position_row).to_have_attribute("data-protection", position["protection"])
    await expect(position_row.get_by_test_id("position-protection")).to_be_visible()

    fetched: list[str] = []

    def on_request(request: Request) -> None:
        if "/api/positions" in request.url:
            fetched.append(request.url)

    page.on("request", on_request)
    await page.evaluate("window.__noReload = true")
    unrealized = position_row.get_by_test_id("position-unrealized")
    for price in ("165", "140.5"):
        state.set_price("SOLUSDT", price)
        expected = qty * Decimal(price) - cost
        await expect(position_row.get_by_test_id("position-price")).to_have_text(price)

        async def exact(expected: Decimal = expected) -> bool:
            value = await unrealized.get_attribute("data-value")
            return bool(value) and Decimal(value or "0") == expected

        await eventually(exact, timeout=10)
        await expect(unrealized).to_contain_text(shown(expected, 2, signed=True) + "USDT")
        percent = shown(expected * 100 / cost, 2, signed=True) + "%"
        await expect(position_row.get_by_test_id("position-unrealized-pct")).to_have_text(percent)
    await expect(unrealized.locator(".neg").first).to_be_visible()
    assert fetched == [], "the P&L was refetched instead of pushed"
    assert await page.evaluate("window.__noReload") is True
    await page.screenshot(path=str(ARTIFACTS / "dashboard-positions-live.png"), full_page=True)

    # SL/TP editor: what it sends and how it shows the server's answers (the route is
    # answered here, so the page's side is checked whatever the protection backend does).
    sent: list[Any] = []
    answers = [
        (200, {"status": "applied", "message": "stop-loss placed at 120", "stop_loss": "120"}),
        (422, {"detail": "the take-profit must be above the current price"}),
    ]

    async def protection(route: Route) -> None:
        sent.append(route.request.post_data_json)
        status, body = answers[len(sent) - 1]
        await route.fulfill(status=status, json=body)

    await page.route("**/api/positions/*/protection", protection)
    await position_row.get_by_test_id("position-edit-sltp").click()
    await page.get_by_test_id("protection-form-sl").fill("120")
    await page.get_by_test_id("protection-form-tp").fill("")
    await page.get_by_test_id("protection-form-submit").click()
    result = page.get_by_test_id("protection-result")
    await expect(result).to_have_text("stop-loss placed at 120")
    await expect(result).to_have_attribute("data-tone", "success")
    assert sent == [{"stop_loss": "120", "take_profit": None}]
    await page.get_by_test_id("protection-form-tp").fill("130")
    await page.get_by_test_id("protection-form-submit").click()
    await expect(result).to_have_text("the take-profit must be above the current price")
    await expect(result).to_have_attribute("data-tone", "danger")
    assert sent[1] == {"stop_loss": "120", "take_profit": "130"}
    await page.get_by_test_id("protection-form-sl").fill("12a")
    await page.get_by_test_id("protection-form-submit").click()
    await expect(result).to_contain_text("Stop-loss: enter a positive price")
    assert len(sent) == 2, "an invalid price was sent"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-protection-editor.png"))

    await page.get_by_test_id("protection-form-cancel").click()
    await expect(page.get_by_test_id("protection-form")).to_have_count(0)

    # Close: asks first; the server's refusal is shown on the row in red.
    closes: list[str] = []

    async def close(route: Route) -> None:
        closes.append(route.request.url)
        await route.fulfill(status=409, json={"detail": "a close of this position is running"})

    await page.route("**/api/positions/*/close", close)
    await position_row.get_by_test_id("position-close").click()
    await expect(page.get_by_role("alertdialog")).to_contain_text("SOL/USDT")
    await page.get_by_test_id("confirm-cancel").click()
    assert closes == []
    await position_row.get_by_test_id("position-close").click()
    await page.get_by_test_id("confirm-ok").click()
    notice = position_row.get_by_test_id("position-notice")
    await expect(notice).to_have_text("a close of this position is running")
    await expect(notice).to_have_class(re.compile(r"\berror-text\b"))
    assert len(closes) == 1 and closes[0].endswith(f"/api/positions/{position['id']}/close")

    # Sold by an alert: the row leaves the open tab live and shows on the closed one.
    sold = await send_alert(stack, broker, {"action": "SellMarket", "symbol": "SOLUSDT"})
    await expect(position_row).to_have_count(0, timeout=15_000)
    await page.get_by_test_id("position-tab-closed").click()
    closed = page.locator(f'[data-testid="position-row"][data-position-id="{position["id"]}"]')
    await expect(closed).to_have_attribute("data-status", "closed")
    await expect(closed.get_by_test_id("position-realized")).to_contain_text("USDT")
    await expect(closed.get_by_test_id("position-close")).to_have_count(0)
    assert sold["status"] == "accepted"
    await page.screenshot(path=str(ARTIFACTS / "dashboard-positions-closed.png"), full_page=True)

    # The symbol search's quote filter, on the synced paper catalog.
    await page.get_by_test_id("nav-brokers").click()
    await page.get_by_test_id("broker-sync-symbols").click()
    sync = page.get_by_test_id("symbol-sync")
    await expect(sync).to_have_attribute("data-status", "done", timeout=20_000)
    search = page.get_by_test_id("symbol-search")
    await search.get_by_test_id("symbol-search-input").fill("SOL")
    symbols = search.get_by_test_id("symbol-row")
    await expect(symbols.filter(has_text="SOL/USDC")).to_have_count(1)
    await expect(symbols.filter(has_text="SOL/USDT")).to_have_count(1)
    await search.get_by_test_id("symbol-search-quote-USDC").click()
    await expect(symbols).to_have_count(1)
    await expect(symbols.first).to_have_attribute("data-symbol", "SOL/USDC")
    await search.get_by_test_id("symbol-search-quote-USDT").click()
    await expect(symbols.first).to_have_attribute("data-symbol", "SOL/USDT")
    await expect(symbols.filter(has_text="USDC")).to_have_count(0)
    await search.get_by_test_id("symbol-search-quote-all").click()
    await expect(symbols.filter(has_text="SOL/USDC")).to_have_count(1)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-symbol-quote-filter.png"), full_page=True)


@pytest.mark.browser
async def test_stop_loss_set_from_the_page_protects_the_position(
    page: Page,  # noqa: F811
    stack: Stack,
    market: tuple[MarketState, str],
) -> None:
    market[0].set_price("SOLUSDT", "150")
    await log_in(page, stack)
    broker = await create_paper_broker(page, "Paper protect")
    await send_alert(stack, broker, {"action": "BuyMarket", "symbol": "SOLUSDT"})
    await page.get_by_test_id("nav-positions").click()
    row = page.get_by_test_id("position-row")
    await expect(row).to_have_count(1, timeout=15_000)
    await expect(row).to_have_attribute("data-protection", "none")
    await row.get_by_test_id("position-edit-sltp").click()
    await page.get_by_test_id("protection-form-sl").fill("120")
    await page.get_by_test_id("protection-form-submit").click()
    result = page.get_by_test_id("protection-result")
    await expect(result).to_have_attribute("data-status", "applied", timeout=15_000)
    await expect(result).to_have_attribute("data-tone", "success")
    await page.get_by_test_id("protection-form-cancel").click()
    await expect(row.get_by_test_id("position-sltp")).to_contain_text("120")
    await expect(row).to_have_attribute("data-protection", "protected")
    await expect(row.get_by_test_id("position-protection")).to_have_text("protected")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-position-protected.png"), full_page=True)


@pytest.mark.browser
async def test_a_position_event_without_a_price_keeps_the_last_one(
    page: Page,  # noqa: F811
    stack: Stack,
    market: tuple[MarketState, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Position events carry no price: until the next `prices` push the row keeps the price
    it had and recomputes the P&L for its new quantity, rather than show a dash."""

    async def silent(_feed: PriceFeed) -> None:
        return None

    monkeypatch.setattr(PriceFeed, "_tick", silent)  # no push: only the REST price is known
    market[0].set_price("SOLUSDT", "150")
    await log_in(page, stack)
    broker = await create_paper_broker(page, "Paper kept price")
    await send_alert(stack, broker, {"action": "BuyMarket", "symbol": "SOLUSDT"})
    async with httpx.AsyncClient(base_url=stack.url, cookies=await session_cookies(page)) as http:

        async def opened() -> bool:
            body = (await http.get("/api/positions", params={"status": "open"})).json()
            return bool(body["items"])

        await eventually(opened, timeout=15)  # then the page loads it with its price
    await page.get_by_test_id("nav-positions").click()
    row = page.get_by_test_id("position-row")
    await expect(row).to_have_count(1)
    await expect(row.get_by_test_id("position-price")).to_have_text("150")

    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        [position] = (
            await session.scalars(select(Position).where(Position.broker_id == broker["id"]))
        ).all()
        position.quantity = position.quantity / 2
        position.cost_basis = position.cost_basis / 2
        qty, cost = position.quantity, position.cost_basis
        await emit(session, position.user_id, "position", position.id)
    await expect(row.get_by_test_id("position-quantity")).to_have_text(shown(qty, 8))
    await expect(row.get_by_test_id("position-price")).to_have_text("150")
    unrealized = row.get_by_test_id("position-unrealized")
    await expect(unrealized).to_have_attribute("data-value", re.compile(r"\d"))
    assert Decimal(await unrealized.get_attribute("data-value") or "") == qty * 150 - cost
