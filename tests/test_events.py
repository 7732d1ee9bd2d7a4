"""The live feed's outbox tail: events committed out of id order are still delivered."""

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, text

from api.events import EventHub
from db.events import emit
from db.models import Event, Position
from tests.conftest import ApiUser
from workers.stack import Stack


async def test_an_id_committed_late_is_still_delivered(stack: Stack, user: ApiUser) -> None:
    runtime = stack.runtime
    assert runtime is not None
    hub = EventHub(runtime)
    queue = hub.subscribe(user.id)
    async with runtime.sessions() as session:
        base = int(await session.scalar(select(func.max(Event.id))) or 0) + 100
    hub._last_id = base

    async def commit(event_id: int, marker: int) -> None:
        async with runtime.sessions.begin() as session:
            session.add(Event(id=event_id, user_id=user.id, topic="broker", payload={"id": marker}))
            if session.get_bind().dialect.name == "postgresql":  # keep the sequence ahead
                await session.execute(
                    text("SELECT setval(pg_get_serial_sequence('events', 'id'), :v)"),
                    {"v": base + 10},
                )

    await commit(base + 2, 2)  # id base+1 was handed out first but commits later
    await hub._deliver_new()
    assert queue.get_nowait() == {"topic": "broker", "data": {"id": 2}}
    assert queue.empty()
    await commit(base + 1, 1)
    await hub._deliver_new()
    assert queue.get_nowait() == {"topic": "broker", "data": {"id": 1}}
    await hub._deliver_new()
    assert queue.empty(), "nothing is sent twice"


async def test_a_position_event_is_sent_without_asking_the_market(
    stack: Stack, user: ApiUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tail is one loop for every user: a price lookup per position event would stall it
    behind a slow exchange. Prices reach the dashboard on the `prices` push instead."""
    runtime = stack.runtime
    assert runtime is not None
    hub = EventHub(runtime)
    queue = hub.subscribe(user.id)
    async with runtime.sessions() as session:
        hub._last_id = int(await session.scalar(select(func.max(Event.id))) or 0)
    broker = await user.create_broker(balances={"USDT": "100"})

    asked: list[Any] = []

    def no_market(*args: Any, **_kwargs: Any) -> Any:
        asked.append(args)  # recorded: mark_prices would swallow an exception
        raise RuntimeError("no market in this test")

    monkeypatch.setattr(runtime.prices, "prices", no_market)
    monkeypatch.setattr(runtime.connectors, "connector", no_market)
    async with runtime.sessions.begin() as session:
        position = Position(
            user_id=user.id,
            broker_id=broker["id"],
            symbol="ETH/USDT",
            status="open",
            quantity=Decimal(2),
            entry_price=Decimal(2500),
            cost_basis=Decimal(5000),
            bought_quantity=Decimal(2),
        )
        session.add(position)
        await session.flush()
        await emit(session, user.id, "position", position.id)
    await hub._deliver_new()
    messages = []
    while not queue.empty():
        messages.append(queue.get_nowait())
    [sent] = [m for m in messages if m["topic"] == "position"]
    assert sent["data"]["id"] == position.id and sent["data"]["status"] == "open"
    assert sent["data"]["current_price"] is None and sent["data"]["unrealized_pnl"] is None
    assert asked == [], "the event tail asked the market for a price"
