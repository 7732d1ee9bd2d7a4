"""The live feed's outbox tail: events committed out of id order are still delivered."""

from sqlalchemy import func, select, text

from api.events import EventHub
from db.models import Event
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
