"""Login sessions, the live feed and secrets that must never leave the server."""

import json
import secrets
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import text
from temporalio.client import Client

from accounts.users import create_user
from api.sessions import COOKIE_NAME
from tests.conftest import ApiUser, wait_webhook_done, webhook_path
from tests.venues import FakeVenue
from workers.stack import Stack


async def test_login_sets_an_httponly_session_and_logout_ends_it(stack: Stack) -> None:
    assert stack.runtime is not None
    name, password = f"a{secrets.token_hex(3)}", "correct horse battery"
    await create_user(stack.runtime.sessions, name, password)
    async with httpx.AsyncClient(base_url=stack.url) as http:
        assert (await http.get("/api/auth/me")).status_code == 401
        assert (await http.get("/api/brokers")).status_code == 401
        wrong = await http.post("/api/auth/login", json={"username": name, "password": "nope"})
        assert wrong.status_code == 401 and wrong.json()["detail"] == "wrong username or password"
        unknown = await http.post("/api/auth/login", json={"username": "ghost", "password": "x"})
        assert unknown.status_code == 401
        ok = await http.post("/api/auth/login", json={"username": name, "password": password})
        assert ok.status_code == 200 and ok.json()["username"] == name
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(COOKIE_NAME) and "HttpOnly" in cookie and "SameSite=lax" in cookie
        assert (await http.get("/api/auth/me")).json()["username"] == name
        assert (await http.post("/api/auth/logout")).status_code == 204
    # the old cookie is dead on the server, not just forgotten by the client
    token = cookie.split(";")[0].split("=", 1)[1]
    async with httpx.AsyncClient(base_url=stack.url, cookies={COOKIE_NAME: token}) as http:
        assert (await http.get("/api/auth/me")).status_code == 401


async def test_live_feed_pushes_webhook_order_and_position_changes(
    stack: Stack, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker = await user.create_broker(balances={"USDT": "1000"})
    cookie = user.http.cookies.get(COOKIE_NAME)
    url = stack.url.replace("http://", "ws://") + "/api/ws"
    async with websockets.connect(
        url, additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    ) as ws:
        hello = json.loads(await ws.recv())
        assert hello == {"topic": "hello", "data": {"user": user.username}}
        answer = (
            await webhook_http.post(
                webhook_path(broker), json={"action": "BuyMarket", "symbol": "BTCUSDT"}
            )
        ).json()
        seen: dict[str, list[dict[str, Any]]] = {"webhook": [], "order": [], "position": []}
        while not any(w["status"] == "processed" for w in seen["webhook"]) or not seen["position"]:
            message = json.loads(await ws.recv())
            seen.setdefault(message["topic"], []).append(message["data"])
    statuses = [w["status"] for w in seen["webhook"] if w["id"] == answer["webhook_id"]]
    # Each event carries the resource as it is when pushed (so intermediate states may be
    # skipped when they change faster than the feed), ending at the final one.
    assert statuses and statuses[-1] == "processed"
    assert seen["order"][-1]["status"] == "filled"
    assert seen["position"][-1]["status"] == "open"


async def test_live_feed_needs_a_login_and_only_carries_your_events(
    stack: Stack, make_user: Any, webhook_http: httpx.AsyncClient
) -> None:
    url = stack.url.replace("http://", "ws://") + "/api/ws"
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        async with websockets.connect(url) as ws:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    alice, bob = await make_user(), await make_user()
    alice_broker = await alice.create_broker()
    bob_broker = await bob.create_broker()
    cookie = bob.http.cookies.get(COOKIE_NAME)
    async with websockets.connect(
        url, additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    ) as ws:
        await ws.recv()  # hello
        await webhook_http.post(webhook_path(alice_broker), json={"action": "PING", "id": "a"})
        mine = (await webhook_http.post(webhook_path(bob_broker), json={"action": "PING"})).json()
        while True:
            message = json.loads(await ws.recv())
            assert message["data"].get("broker_id") != alice_broker["id"]
            if message["topic"] == "webhook" and message["data"]["status"] == "processed":
                assert message["data"]["id"] == mine["webhook_id"]
                break


async def test_credentials_never_leave_the_server(
    stack: Stack,
    user: ApiUser,
    temporal_client: Client,
    webhook_http: httpx.AsyncClient,
    fake_exchanges: dict[str, FakeVenue],
) -> None:
    binance = fake_exchanges["binance"]
    account = binance.fake.add_account({"USDT": "1000"})
    secret, key = account.api_secret, account.api_key
    response = await user.http.post(
        "/api/brokers",
        json={
            "name": "binance-main",
            "exchange": "binance",
            "trading_mode": "webhooks",
            "base_url": binance.url,
            "credentials": {"api_key": key, "api_secret": secret},
        },
    )
    assert response.status_code == 201, response.text
    broker = response.json()
    assert broker["has_credentials"] is True
    listed = (await user.http.get("/api/brokers")).text
    for body in (response.text, listed, (await user.http.get(f"/api/brokers/{broker['id']}")).text):
        assert secret not in body and key not in body
    answer = (
        await webhook_http.post(
            webhook_path(broker), json={"action": "BuyMarket", "symbol": "BTCUSDT"}
        )
    ).json()
    done = await wait_webhook_done(user, answer["webhook_id"])
    assert done["status"] == "processed", done  # signed requests went out with them
    history = await temporal_client.get_workflow_handle(answer["workflow_id"]).fetch_history()
    dumped = json.dumps(history.to_json_dict())
    assert secret not in dumped and key not in dumped
    assert stack.runtime is not None
    async with stack.runtime.sessions() as session:
        stored = (
            await session.execute(
                text("SELECT credentials_encrypted FROM brokers WHERE id = :i"), {"i": broker["id"]}
            )
        ).scalar_one()
    assert secret not in stored and key not in stored


async def test_broker_validation_messages(user: ApiUser) -> None:
    missing = await user.http.post(
        "/api/brokers",
        json={
            "name": "b",
            "exchange": "bitget",
            "credentials": {"api_key": "k", "api_secret": "sk-never-echoed"},
        },
    )
    assert missing.status_code == 422 and "passphrase" in missing.text
    assert "sk-never-echoed" not in missing.text
    first = await user.create_broker(name="same")
    assert first["name"] == "same"
    duplicate = await user.http.post("/api/brokers", json={"name": "same"})
    assert (
        duplicate.status_code == 409 and "already have a broker named" in duplicate.json()["detail"]
    )
    negative = await user.http.post("/api/brokers", json={"name": "n", "balances": {"USDT": "-1"}})
    assert negative.status_code == 422
    deleted = await user.http.delete(f"/api/brokers/{first['id']}")
    assert deleted.status_code == 204
    assert (await user.http.get(f"/api/brokers/{first['id']}")).status_code == 404


async def test_logout_ends_open_live_feeds(
    stack: Stack, user: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    from api.routes import live

    monkeypatch.setattr(live, "RECHECK_SESSION", 0.2)
    cookie = user.http.cookies.get(COOKIE_NAME)
    url = stack.url.replace("http://", "ws://") + "/api/ws"
    async with websockets.connect(
        url, additional_headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
    ) as ws:
        await ws.recv()  # hello
        assert (await user.http.post("/api/auth/logout")).status_code == 204
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_money_in_request_bodies_keeps_every_digit(user: ApiUser) -> None:
    response = await user.http.post(
        "/api/brokers",
        content=b'{"name": "exact", "balances": {"USDT": 1234567890.123456789012},'
        b' "fee_rate": 0.00075}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["fee_rate"] == "0.00075"
    balances = (await user.http.get(f"/api/brokers/{response.json()['id']}/balances")).json()
    assert balances["items"][0]["free"] == "1234567890.123456789012"
