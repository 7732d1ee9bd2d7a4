"""The symbol catalog: synced per broker by a workflow with live progress, searched by the
dashboard, used to validate orders; and the broker's "Test connection"."""

import json
from typing import Any

import websockets

from api.sessions import COOKIE_NAME
from tests.conftest import ApiUser, eventually, wait_webhook_done, webhook_path
from tests.venues import FakeVenue, Venue
from workers.stack import Stack


async def sync_and_wait(user: ApiUser, broker: dict[str, Any]) -> dict[str, Any]:
    started = await user.http.post(f"/api/brokers/{broker['id']}/symbols/sync")
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running"

    async def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = (
            await user.http.get(f"/api/brokers/{broker['id']}/symbols/sync")
        ).json()
        return body if body["status"] != "running" else None

    return await eventually(finished)


async def test_sync_fills_the_catalog_and_search_finds_it(venue: Venue, user: ApiUser) -> None:
    broker = await venue.create_broker(user, {"USDT": "100"})
    done = await sync_and_wait(user, broker)
    assert done["status"] == "done", done
    assert done["total"] >= 4 and done["stored"] == done["total"] == done["added"]
    assert done["workflow_url"].endswith(done["workflow_id"])
    found = (
        await user.http.get(f"/api/brokers/{broker['id']}/symbols", params={"q": "btc"})
    ).json()
    symbols = [s["symbol"] for s in found["items"]]
    assert "BTC/USDT" in symbols and "ETH/BTC" in symbols
    assert symbols[-1] == "ETH/BTC", symbols  # BTC as the base first, then as the quote
    assert all("BTC" in s for s in symbols) and found["total"] == len(symbols)
    btc = next(s for s in found["items"] if s["symbol"] == "BTC/USDT")
    assert btc["base"] == "BTC" and btc["quote"] == "USDT" and btc["active"] is True
    assert float(btc["amount_step"]) > 0 and float(btc["price_tick"]) > 0
    again = await sync_and_wait(user, broker)
    assert (again["status"], again["added"], again["delisted"]) == ("done", 0, 0)


async def test_sync_progress_is_pushed_live(stack: Stack, venue: Venue, user: ApiUser) -> None:
    broker = await venue.create_broker(user, {"USDT": "100"})
    cookie = user.http.cookies.get(COOKIE_NAME)
    url = stack.url.replace("http://", "ws://") + "/api/ws"
    async with websockets.connect(
        url, additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    ) as ws:
        await ws.recv()  # hello
        await user.http.post(f"/api/brokers/{broker['id']}/symbols/sync")
        updates: list[dict[str, Any]] = []
        while not updates or updates[-1]["status"] == "running":
            message = json.loads(await ws.recv())
            if message["topic"] == "symbol_sync":
                updates.append(message["data"])
    # Each push carries the row as it is when sent: a quick sync may arrive as "done" at once.
    assert updates[-1]["status"] == "done"
    assert updates[-1]["stored"] == updates[-1]["total"] > 0
    assert all(u["broker_id"] == broker["id"] for u in updates)


async def test_delisted_symbols_are_marked_and_refused(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: Any
) -> None:
    broker = await fake_venue.create_broker(user, {"USDT": "100"}, trading_mode="webhooks")
    assert (await sync_and_wait(user, broker))["status"] == "done"
    ledger = fake_venue.fake.ledger
    delisted = ledger.markets.pop("SOL/USDT")
    try:
        done = await sync_and_wait(user, broker)
        assert (done["status"], done["delisted"]) == ("done", 1)
        inactive = (
            await user.http.get(
                f"/api/brokers/{broker['id']}/symbols", params={"q": "SOL", "active": False}
            )
        ).json()
        assert [(s["symbol"], s["active"]) for s in inactive["items"]] == [("SOL/USDT", False)]
        response = await webhook_http.post(
            webhook_path(broker), json={"action": "BuyMarket", "symbol": "SOLUSDT"}
        )
        refused = await wait_webhook_done(user, response.json()["webhook_id"])
        assert refused["status"] == "error" and "no longer listed" in refused["error"]
    finally:
        ledger.markets[delisted.symbol] = delisted


async def test_sync_failure_is_reported(fake_venue: FakeVenue, user: ApiUser) -> None:
    broker = await fake_venue.create_broker(user, {"USDT": "100"})
    await user.http.patch(f"/api/brokers/{broker['id']}", json={"base_url": "http://127.0.0.1:9"})
    done = await sync_and_wait(user, broker)
    assert done["status"] == "error" and "cannot reach" in done["error"], done


async def test_symbols_of_another_users_broker_are_not_found(make_user: Any) -> None:
    alice, bob = await make_user(), await make_user()
    broker = await alice.create_broker()
    for method, path in [
        ("GET", "/symbols"),
        ("GET", "/symbols/sync"),
        ("POST", "/symbols/sync"),
        ("POST", "/test"),
    ]:
        response = await bob.http.request(method, f"/api/brokers/{broker['id']}{path}")
        assert response.status_code == 404, (method, path, response.text)


async def test_connection_test_reports_success(venue: Venue, user: ApiUser) -> None:
    broker = await venue.create_broker(user, {"USDT": "100"})
    tested = (await user.http.post(f"/api/brokers/{broker['id']}/test")).json()
    assert tested["ok"] is True, tested
    assert tested["message"] and tested["latency_ms"] >= 0


async def test_exchanges_describe_what_brokers_need(user: ApiUser, webhook_http: Any) -> None:
    body = (await user.http.get("/api/exchanges")).json()
    by_id = {e["id"]: e for e in body["items"]}
    assert list(by_id) == ["paper", "binance", "bitget", "kraken"]
    assert by_id["binance"]["default_base_url"] == "https://api.binance.com"
    assert by_id["paper"]["default_base_url"] is None
    assert [e for e, info in by_id.items() if info["needs_passphrase"]] == ["bitget"]
    assert by_id["binance"]["capabilities"]["oco"] is True
    assert by_id["paper"]["needs_credentials"] is False
    assert (await webhook_http.get("/api/exchanges")).status_code == 401
