"""The market feed's health in the database: written by the heartbeat (whatever process runs
it), read by the API and the dashboard."""

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from db.base import utcnow
from db.models import FeedStatus
from db.session import Sessions
from db.upsert import insert_ignore

FEED = "heartbeat"
# Both modes report at least every few seconds: a minute of silence means the feed is stuck
# or the heartbeat is not running.
STALE_AFTER = timedelta(seconds=60)


@dataclass
class FeedState:
    mode: str  # binance | simulated
    connected: bool = False
    streams: list[str] = field(default_factory=list)
    last_message_at: datetime | None = None
    # Close time of the newest closed candle stored.
    last_closed_at: datetime | None = None
    lag_ms: int | None = None
    reconnects: int = 0
    backfilled: int = 0
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


async def save_feed_status(sessions: Sessions, state: FeedState) -> None:
    values = asdict(state)
    async with sessions.begin() as session:
        # Get-or-create that two heartbeats starting together cannot trip over.
        await insert_ignore(
            session,
            FeedStatus,
            {**values, "name": FEED, "updated_at": utcnow()},
            ["name"],
        )
        await session.execute(
            update(FeedStatus).where(FeedStatus.name == FEED).values(**values, updated_at=utcnow())
        )


def feed_json(row: FeedStatus | None, now: datetime) -> dict[str, Any]:
    if row is None:
        return {
            "mode": None,
            "connected": False,
            "streams": [],
            "last_message_at": None,
            "last_closed_at": None,
            "lag_ms": None,
            "reconnects": 0,
            "backfilled": 0,
            "error": None,
            "stale": True,
            "updated_at": None,
        }
    heard = row.last_message_at
    return {
        "mode": row.mode,
        "connected": row.connected,
        "streams": list(row.streams),
        "last_message_at": heard.isoformat() if heard else None,
        "last_closed_at": row.last_closed_at.isoformat() if row.last_closed_at else None,
        "lag_ms": row.lag_ms,
        "reconnects": row.reconnects,
        "backfilled": row.backfilled,
        "error": row.error,
        "stale": heard is None or now - heard > STALE_AFTER,
        "updated_at": row.updated_at.isoformat(),
    }


async def read_feed_status(session: AsyncSession) -> dict[str, Any]:
    return feed_json(await session.get(FeedStatus, FEED, populate_existing=True), utcnow())
