"""Write a change notice to the outbox in the caller's transaction.

The API tails the table (woken at once by NOTIFY on PostgreSQL) and pushes the changed
resource to the owning user's dashboards."""

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Event

CHANNEL = "aristobot_events"
TOPICS = ("webhook", "order", "position", "broker", "symbol_sync", "strategy")


async def emit(session: AsyncSession, user_id: int, topic: str, resource_id: int) -> None:
    assert topic in TOPICS, topic
    session.add(Event(user_id=user_id, topic=topic, payload={"id": resource_id}))
    if session.get_bind().dialect.name == "postgresql":
        # Delivered at commit, and only if the transaction commits.
        await session.execute(text(f"NOTIFY {CHANNEL}"))
