"""GET /api/feed: the market feed's status (the heartbeat's last report)."""

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from market.feed_status import read_feed_status

router = APIRouter(prefix="/api", tags=["market"])


class FeedOut(BaseModel):
    mode: str | None  # binance | simulated; None when no heartbeat ever ran
    connected: bool
    streams: list[str]
    last_message_at: datetime | None
    # Close time of the newest closed candle stored.
    last_closed_at: datetime | None
    lag_ms: int | None
    reconnects: int
    backfilled: int
    error: str | None
    # No message for over a minute: the feed is stuck or the heartbeat is not running.
    stale: bool
    updated_at: datetime | None


@router.get("/feed", response_model=FeedOut)
async def feed_status(user: CurrentUser, session: SessionDep) -> FeedOut:
    return FeedOut.model_validate(await read_feed_status(session))
