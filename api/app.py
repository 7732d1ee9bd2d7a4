"""The FastAPI application: routes, lifespan (Temporal link, event hub), dashboard."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from temporalio.client import Client

from api.events import EventHub
from api.routes import (
    assistant,
    auth,
    brokers,
    candles,
    exchanges,
    feed,
    health,
    history,
    live,
    orders,
    protection,
    strategies,
    symbols,
    tradingview,
)
from api.signal_starter import SignalStarter
from api.static import mount_dashboard
from api.temporal_link import TemporalLink
from api.webhook_intake import WebhookIntake
from workers.runtime import Runtime


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422 without the `input` it normally echoes: a refused broker body would
    send its API secret back."""
    assert isinstance(exc, RequestValidationError)
    errors = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in exc.errors()]
    return JSONResponse({"detail": errors}, status_code=422)


def create_app(runtime: Runtime, temporal_client: Client | None = None) -> FastAPI:
    """`temporal_client` lets `aristobot dev` share its client with the in-process worker."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.temporal.start()
        await app.state.events.start()
        starter.run_sweeper()
        try:
            yield
        finally:
            await starter.stop()
            await app.state.events.stop()
            await app.state.temporal.close()

    app = FastAPI(
        title="Aristobot",
        version="0.1.0",
        description="Self-hosted crypto trading bot on Temporal.",
        lifespan=lifespan,
    )
    temporal = TemporalLink(runtime.settings, temporal_client)
    app.state.runtime = runtime
    app.state.temporal = temporal
    app.state.events = EventHub(runtime)
    starter = SignalStarter(
        runtime.sessions,
        temporal,
        runtime.settings.task_queue,
        timedelta(seconds=runtime.settings.webhook_max_delay),
    )
    app.state.intake = WebhookIntake(runtime.sessions, starter)
    app.add_exception_handler(RequestValidationError, validation_error)
    for module in (
        health,
        auth,
        exchanges,
        brokers,
        symbols,
        candles,
        feed,
        history,
        protection,
        orders,
        live,
        tradingview,
        assistant,
        strategies,
    ):
        app.include_router(module.router)
    mount_dashboard(app)
    return app
