"""The API's Temporal client: connected in the background so the API serves (and reports
Temporal as down in /healthz) even while Temporal is starting or unreachable."""

import asyncio
import contextlib
from datetime import timedelta

from loguru import logger
from temporalio.client import Client

from config.settings import Settings
from workers.temporal import connect


class TemporalUnavailable(RuntimeError):
    pass


class TemporalLink:
    def __init__(self, settings: Settings, client: Client | None = None) -> None:
        self._settings = settings
        self._client = client
        self._task: asyncio.Task[None] | None = None
        self.last_error: str | None = None

    @property
    def client(self) -> Client:
        if self._client is None:
            raise TemporalUnavailable(
                f"Temporal is not reachable at {self._settings.temporal_address}"
                + (f" ({self.last_error})" if self.last_error else "")
            )
        return self._client

    def start(self) -> None:
        if self._client is None and self._task is None:
            self._task = asyncio.create_task(self._connect_forever())

    async def _connect_forever(self) -> None:
        delay = 0.5
        while self._client is None:
            try:
                self._client = await connect(self._settings)
                self.last_error = None
                logger.info("connected to Temporal at {}", self._settings.temporal_address)
            except Exception as exc:  # any connection failure: keep trying
                self.last_error = str(exc) or type(exc).__name__
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def healthy(self) -> bool:
        if self._client is None:
            return False
        try:
            return await self._client.service_client.check_health(timeout=timedelta(seconds=2))
        except Exception as exc:  # health is a yes/no answer
            self.last_error = str(exc)
            return False

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
