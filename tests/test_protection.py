"""Stop-loss / take-profit of positions on every exchange: placed once the entry fills,
moved by MAJ webhooks one update at a time, lifted before a sell, and the sibling cancelled
when one of them fills. What the exchange itself holds is checked, not only our records."""

import asyncio
import json
from decimal import Decimal as D
from typing import Any

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from activities.guard_calls import call_guard
from api.routes import protection as protection_route
from config.settings import Settings
from tests.conftest import ApiUser, eventually, wait_webhook_done, webhook_path
from tests.test_exchange_webhooks import send
from tests.test_reconcile import reconcile
from tests.venues import PROTECTIVE_ORDER_PATHS, FakeVenue, Venue
from workflows.inputs import (
    GuardCall,
    HoldOutcome,
    HoldRequest,
    ProtectOutcome,
    position_guard_workflow_id,
)

Protective = list[tuple[str, str, D, D | None]]


async def open_position(user: ApiUser, broker: dict[str, Any]) -> dict[str, Any]:
    response = await user.http.get(
        "/api/positions", params={"status": "open", "broker_id": broker["id"]}
    )
    [position] = response.json()["items"]
    return dict(position)


def legs(protective: Protective) -> list[tuple[str, D]]:
    """(type, trigger price) of the exchange's live protective orders, sorted."""
    return sorted((kind, price) for kind, _side, price, _qty in protective)


async def buy_protected(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient, **levels: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    venue.set_price("SOL/USDT", "100")
    broker = await venue.create_broker(user, {"USDT": "1000"}, trading_mode="webhooks")
    bought = await send(
        webhook_http, user, broker, action="BuyMarket", symbol="SOLUSDT", percent=50, **levels
    )
    assert bought["status"] == "processed", bought
    return broker, bought


async def test_buy_with_sl_tp_places_them_and_the_target_closes_the_position(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient, temporal_client: Client
) -> None:
    broker, bought = await buy_protected(venue, user, webhook_http, sl="90", tp="120")
    held = D(5) if venue.fee_in_quote else D("4.995")
    assert "stop-loss 90 and take-profit 120 for" in bought["outcome"], bought
    live = await venue.open_protective_orders(broker)
    assert legs(live) == [("stop_loss", D(90)), ("take_profit", D(120))]
    assert all(side == "sell" and qty == held for _kind, side, _price, qty in live)
    position = await open_position(user, broker)
    assert (D(position["stop_loss"]), D(position["take_profit"])) == (90, 120)
    assert position["protection"] == "protected"

    venue.set_price("SOL/USDT", "121")  # the target is reached

    async def closed() -> dict[str, Any] | None:
        await reconcile(temporal_client, broker)
        body = (
            await user.http.get(
                "/api/positions", params={"status": "closed", "broker_id": broker["id"]}
            )
        ).json()
        return body["items"][0] if body["items"] else None

    position = await eventually(closed, timeout=30, interval=1.0)
    # the sibling stop is cancelled by the position's guard, woken by reconciliation
    await eventually(lambda: _none_live(venue, broker), timeout=30, interval=0.5)
    orders = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    by_type = {o["type"]: o for o in orders["items"] if o["type"] != "market"}
    assert by_type["take_profit"]["status"] == "filled"
    assert by_type["stop_loss"]["status"] == "canceled"
    assert D(position["quantity"]) == 0 and D(position["realized_pnl"]) > 0


async def _none_live(venue: Venue, broker: dict[str, Any]) -> bool:
    return not await venue.open_protective_orders(broker)


async def test_maj_moves_both_and_a_sell_lifts_them_first(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker, _ = await buy_protected(venue, user, webhook_http, sl="90", tp="120")
    moved = await send(webhook_http, user, broker, action="MAJ", symbol="SOLUSDT", sl=95, tp=130)
    assert moved["status"] == "processed", moved
    assert legs(await venue.open_protective_orders(broker)) == [
        ("stop_loss", D(95)),
        ("take_profit", D(130)),
    ]
    # Only the stop: the target stays where it was.
    stop_only = await send(webhook_http, user, broker, action="MAJ", symbol="SOLUSDT", sl=97)
    assert stop_only["status"] == "processed", stop_only
    assert legs(await venue.open_protective_orders(broker)) == [
        ("stop_loss", D(97)),
        ("take_profit", D(130)),
    ]

    # A sell of half: the protective orders are lifted, then resized to what is left.
    half = await send(webhook_http, user, broker, action="SellMarket", symbol="SOLUSDT", percent=50)
    assert half["status"] == "processed", half
    position = await open_position(user, broker)
    live = await venue.open_protective_orders(broker)
    assert legs(live) == [("stop_loss", D(97)), ("take_profit", D(130))]
    assert {qty for *_rest, qty in live} == {D(position["quantity"])}
    everything = await send(webhook_http, user, broker, action="SellMarket", symbol="SOLUSDT")
    assert everything["status"] == "processed", everything
    assert await venue.open_protective_orders(broker) == []
    assert (await user.http.get(f"/api/positions/{position['id']}")).json()["status"] == "closed"


async def test_a_bad_maj_is_refused_and_changes_nothing(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker, _ = await buy_protected(venue, user, webhook_http, sl="90", tp="120")
    refused = await send(webhook_http, user, broker, action="MAJ", symbol="SOLUSDT", sl=101)
    assert refused["status"] == "error"
    assert "stop-loss 101 is not below the market price 100" in refused["error"]
    assert legs(await venue.open_protective_orders(broker)) == [
        ("stop_loss", D(90)),
        ("take_profit", D(120)),
    ]
    nothing = await send(webhook_http, user, broker, action="MAJ", symbol="BTCUSDT", sl=1)
    assert nothing["status"] == "error" and "no open position on BTC/USDT" in nothing["error"]


async def test_a_storm_of_maj_leaves_one_stop_and_one_target_at_the_last_prices(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient, temporal_client: Client
) -> None:
    broker, _ = await buy_protected(venue, user, webhook_http, sl="90", tp="120")
    position = await open_position(user, broker)
    samples: list[Protective] = []
    storming = True

    async def sample() -> None:
        while storming:
            samples.append(await venue.open_protective_orders(broker))
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    prices = {n: (D(80 + n), D(121 + n)) for n in range(10)}
    answers = await asyncio.gather(
        *(
            webhook_http.post(
                webhook_path(broker),
                json={"action": "MAJ", "symbol": "SOLUSDT", "sl": str(sl), "tp": str(tp)},
            )
            for sl, tp in prices.values()
        )
    )
    done = [await wait_webhook_done(user, a.json()["webhook_id"]) for a in answers]
    storming = False
    await sampler
    assert all(d["status"] == "processed" for d in done), done
    assert len(samples) > 10
    for moment in samples:
        kinds = [kind for kind, *_ in moment]
        assert kinds.count("stop_loss") <= 1 and kinds.count("take_profit") <= 1, moment

    # The last update the position's guard received is what the exchange holds.
    last = await _last_update_id(temporal_client, position["id"])
    sent = {d["workflow_id"]: d for d in done}
    [last_webhook] = [d for wf, d in sent.items() if last == f"{wf}/protect"]
    raw = last_webhook["raw_body"]
    final = (D(_field(raw, "sl")), D(_field(raw, "tp")))
    assert legs(await venue.open_protective_orders(broker)) == [
        ("stop_loss", final[0]),
        ("take_profit", final[1]),
    ]
    position = await open_position(user, broker)
    assert (D(position["stop_loss"]), D(position["take_profit"])) == final


def _field(raw_body: str, name: str) -> str:
    return str(json.loads(raw_body)[name])


async def _last_update_id(temporal_client: Client, position_id: int) -> str:
    handle = temporal_client.get_workflow_handle(position_guard_workflow_id(position_id))
    accepted = [
        event.workflow_execution_update_accepted_event_attributes.accepted_request.meta.update_id
        async for event in handle.fetch_history_events()
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED
    ]
    protects = [update_id for update_id in accepted if update_id.endswith("/protect")]
    return protects[-1]


async def maj_while_refused(
    venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient, refusals: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A MAJ while the exchange refuses the next `refusals` protective orders."""
    broker, _ = await buy_protected(venue, user, webhook_http, sl="90", tp="120")
    for path in PROTECTIVE_ORDER_PATHS[venue.name]:
        venue.fake.faults.arm("reject", "POST", path, times=refusals)
    try:
        moved = await send(
            webhook_http, user, broker, action="MAJ", symbol="SOLUSDT", sl=95, tp=130
        )
    finally:
        venue.fake.faults.clear()
    assert moved["status"] == "error", moved
    assert venue.insufficient_funds in moved["error"]
    return broker, moved


async def test_a_refused_new_stop_keeps_the_position_protected(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker, moved = await maj_while_refused(fake_venue, user, webhook_http, refusals=1)
    assert "refused" in moved["error"] and "the position is still protected" in moved["error"]
    assert legs(await fake_venue.open_protective_orders(broker)) == [
        ("stop_loss", D(90)),
        ("take_profit", D(120)),
    ]
    position = await open_position(user, broker)
    assert position["protection"] == "protected"
    assert (D(position["stop_loss"]), D(position["take_profit"])) == (90, 120)


async def test_when_even_the_old_stop_cannot_be_placed_the_position_says_unprotected(
    fake_venue: FakeVenue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker, moved = await maj_while_refused(fake_venue, user, webhook_http, refusals=10)
    assert "NOT PROTECTED" in moved["error"]
    position = await open_position(user, broker)
    assert position["protection"] == "unprotected"
    assert fake_venue.insufficient_funds in position["protection_error"]


async def test_the_dashboard_edit_replaces_both_and_null_removes_one(
    venue: Venue,
    user: ApiUser,
    make_user: Any,
    webhook_http: httpx.AsyncClient,
) -> None:
    broker, _ = await buy_protected(venue, user, webhook_http, sl="90", tp="120")
    position = await open_position(user, broker)
    path = f"/api/positions/{position['id']}/protection"
    edited = await user.http.patch(path, json={"stop_loss": "92.5", "take_profit": None})
    assert edited.status_code == 200, edited.text
    assert edited.json()["status"] == "applied" and D(edited.json()["stop_loss"]) == D("92.5")
    assert legs(await venue.open_protective_orders(broker)) == [("stop_loss", D("92.5"))]
    position = await open_position(user, broker)
    assert (D(position["stop_loss"]), position["take_profit"]) == (D("92.5"), None)

    crossed = await user.http.patch(path, json={"stop_loss": "95", "take_profit": "94"})
    assert crossed.status_code == 422
    assert "stop-loss 95 must be below take-profit 94" in crossed.json()["detail"]
    stranger = await make_user()
    assert (await stranger.http.patch(path, json={"stop_loss": "91"})).status_code == 404
    assert legs(await venue.open_protective_orders(broker)) == [("stop_loss", D("92.5"))]


async def test_each_sell_lifts_the_protection_until_its_own_resume(
    fake_venue: FakeVenue,
    user: ApiUser,
    webhook_http: httpx.AsyncClient,
    temporal_client: Client,
    settings: Settings,
) -> None:
    """Two sells overlapping: the first one's resume must not put the stop back while the
    second still uses the quantity."""
    broker, _ = await buy_protected(fake_venue, user, webhook_http, sl="90", tp="120")
    position = await open_position(user, broker)

    async def guard(update: str, request_id: str, hold_id: str | None = None) -> Any:
        if update == "hold":
            argument: Any = HoldRequest(request_id=request_id)
            kind: Any = HoldOutcome
        else:
            argument = GuardCall(position_id=position["id"], request_id=request_id, hold_id=hold_id)
            kind = ProtectOutcome
        return await call_guard(
            temporal_client, settings.task_queue, position["id"], update, argument, request_id, kind
        )

    assert (await guard("hold", "sell-a/hold")).held
    assert (await guard("hold", "sell-b/hold")).held
    assert await fake_venue.open_protective_orders(broker) == []
    still_held = await guard("resume", "sell-a/resume", hold_id="sell-a/hold")
    assert still_held.status == "held", still_held
    assert await fake_venue.open_protective_orders(broker) == []
    back = await guard("resume", "sell-b/resume", hold_id="sell-b/hold")
    assert back.status == "applied", back
    assert legs(await fake_venue.open_protective_orders(broker)) == [
        ("stop_loss", D(90)),
        ("take_profit", D(120)),
    ]


async def test_the_dashboard_edit_keeps_exact_prices_bounds_them_and_answers_slow_ones_later(
    venue: Venue,
    user: ApiUser,
    webhook_http: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broker, _ = await buy_protected(venue, user, webhook_http, sl="90", tp="120")
    position = await open_position(user, broker)
    path = f"/api/positions/{position['id']}/protection"
    huge = await user.http.patch(path, json={"stop_loss": "90", "take_profit": "1e25"})
    assert huge.status_code == 422, huge.text
    # A JSON number, not a string: read as a float it would lose its last digits.
    exact = D("92.123456789012345678")
    edited = await user.http.patch(
        path,
        content='{"stop_loss": 92.123456789012345678, "take_profit": 120}',
        headers={"content-type": "application/json"},
    )
    assert edited.status_code == 200, edited.text
    assert D(edited.json()["stop_loss"]) == exact
    assert D((await open_position(user, broker))["stop_loss"]) == exact

    # The guard slower than the request waits: 202, and the update still lands.
    monkeypatch.setattr(protection_route, "GUARD_WAIT", 0.001)
    slow = await user.http.patch(path, json={"stop_loss": "91", "take_profit": "125"})
    assert slow.status_code == 202, slow.text
    assert slow.json()["status"] == "submitted"

    async def moved() -> bool:
        return legs(await venue.open_protective_orders(broker)) == [
            ("stop_loss", D(91)),
            ("take_profit", D(125)),
        ]

    await eventually(moved, timeout=20, interval=0.2)


async def test_a_buy_whose_stop_is_above_the_market_keeps_the_position_but_places_no_stop(
    venue: Venue, user: ApiUser, webhook_http: httpx.AsyncClient
) -> None:
    broker, bought = await buy_protected(venue, user, webhook_http, sl="105", tp="120")
    assert "stop-loss 105 is not below the market price 100" in bought["outcome"], bought
    assert "not placed" in bought["outcome"]
    assert await venue.open_protective_orders(broker) == []
    position = await open_position(user, broker)
    assert position["protection"] == "unprotected"
    assert "stop-loss 105 is not below" in position["protection_error"]
    # A MAJ with sane prices protects it.
    fixed = await send(webhook_http, user, broker, action="MAJ", symbol="SOLUSDT", sl=95)
    assert fixed["status"] == "processed", fixed
    assert legs(await venue.open_protective_orders(broker)) == [
        ("stop_loss", D(95)),
        ("take_profit", D(120)),
    ]
