"""GET /healthz: the state of the database, Temporal and the market feed."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from market.feed_status import read_feed_status

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(request: Request) -> JSONResponse:
    runtime = request.app.state.runtime
    temporal = request.app.state.temporal
    database: dict[str, Any] = {"ok": True, "backend": runtime.engine.dialect.name}
    try:
        async with runtime.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception as exc:  # reported, not raised
        database = {"ok": False, "backend": runtime.engine.dialect.name, "error": str(exc)}
    feed: dict[str, Any] | None = None
    if database["ok"]:
        try:
            async with runtime.sessions() as session:
                feed = await read_feed_status(session)
        except Exception as exc:  # reported, not raised
            feed = {"mode": None, "error": f"feed status unreadable: {exc}"}
    temporal_ok = await temporal.healthy()
    body = {
        "status": "ok" if database["ok"] else "degraded",
        "database": database,
        "temporal": {
            "ok": temporal_ok,
            "address": runtime.settings.temporal_address,
            "namespace": runtime.settings.temporal_namespace,
            "ui_url": runtime.settings.resolved_temporal_ui_url,
            "error": None if temporal_ok else temporal.last_error,
        },
        "market": runtime.prices.status(),
        # The heartbeat's last report (it may run in another process): GET /api/feed.
        "feed": feed,
    }
    return JSONResponse(body, status_code=200 if database["ok"] else 503)
