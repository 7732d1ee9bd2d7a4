"""GET /api/ws: the dashboard's live feed of webhook, order and position changes, of the
prices of the user's open positions, and of new closed candles and the market feed's status."""

import asyncio
import contextlib

from fastapi import APIRouter, FastAPI, WebSocket, WebSocketDisconnect

from api.candle_feed import CandleFeed
from api.deps import websocket_user
from api.events import EventHub
from api.price_feed import PriceFeed

router = APIRouter(tags=["live"])

NOT_LOGGED_IN = 4401
# How often an open feed re-checks its session, so a logout ends it.
RECHECK_SESSION = 30.0


def price_feed(app: FastAPI) -> PriceFeed:
    """The process's price feed, made on first use (its loop runs only while feeds are open)."""
    feed: PriceFeed | None = getattr(app.state, "price_feed", None)
    if feed is None:
        feed = app.state.price_feed = PriceFeed(app.state.runtime)
    return feed


def candle_feed(app: FastAPI) -> CandleFeed:
    """The process's candle push, made on first use (it runs only while feeds are open)."""
    feed: CandleFeed | None = getattr(app.state, "candle_feed", None)
    if feed is None:
        feed = app.state.candle_feed = CandleFeed(app.state.runtime)
    return feed


@router.websocket("/api/ws")
async def live_feed(websocket: WebSocket) -> None:
    user = await websocket_user(websocket)
    await websocket.accept()
    if user is None:
        # Accept, then close with a code the dashboard can read (a refused handshake
        # looks like a network error to a browser).
        await websocket.close(code=NOT_LOGGED_IN, reason="not logged in")
        return
    hub: EventHub = websocket.app.state.events
    queue = hub.subscribe(user.id)
    prices = price_feed(websocket.app)
    await websocket.send_json({"topic": "hello", "data": {"user": user.username}})
    prices.watch(user.id, queue)
    candles = candle_feed(websocket.app)
    candles.watch(queue)
    receiver = asyncio.create_task(_drain_client(websocket))
    loop = asyncio.get_running_loop()
    recheck_at = loop.time() + RECHECK_SESSION
    try:
        while not receiver.done():
            getter = asyncio.create_task(queue.get())
            done, _ = await asyncio.wait(
                {getter, receiver},
                timeout=max(recheck_at - loop.time(), 0),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if getter in done:
                await websocket.send_json(getter.result())
            else:
                getter.cancel()
            if loop.time() >= recheck_at:
                if await websocket_user(websocket) is None:
                    await websocket.close(code=NOT_LOGGED_IN, reason="session ended")
                    break
                recheck_at = loop.time() + RECHECK_SESSION
    except (WebSocketDisconnect, RuntimeError):
        pass
    finally:
        hub.unsubscribe(user.id, queue)
        prices.unwatch(user.id, queue)
        candles.unwatch(queue)
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await receiver


async def _drain_client(websocket: WebSocket) -> None:
    """Reads (and ignores) client messages so a closed socket is noticed at once."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            await websocket.receive_text()
