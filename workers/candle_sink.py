"""Where the heartbeat hands its new closed candles: the strategy runners, by Temporal
signals (workers/runner_feed.py). The Temporal client is connected on first use, so the
feed starts and stores candles while Temporal is still down; the heartbeat keeps what the
sink could not take and hands it over later."""

import time

from temporalio.client import Client

from config.settings import Settings
from db.session import Sessions
from exchanges.types import Candle
from workers.runner_feed import RunnerSignals
from workers.temporal import connect

# After a failed connect, later calls fail at once for this long (one attempt, not one per
# market and timeframe).
RECONNECT_AFTER = 5.0


class TemporalUnavailable(Exception):
    pass


class StrategyRunnerSink:
    def __init__(self, settings: Settings, sessions: Sessions, client: Client | None) -> None:
        self._settings = settings
        self._sessions = sessions
        self._client = client
        self._signals: RunnerSignals | None = None
        self._retry_at = 0.0

    async def closed(self, symbol: str, timeframe: str, candles: list[Candle]) -> None:
        if self._signals is None:
            self._signals = RunnerSignals(
                await self._connected(), self._sessions, self._settings.task_queue
            )
        await self._signals.closed(symbol, timeframe, candles)

    async def _connected(self) -> Client:
        if self._client is not None:
            return self._client
        if time.monotonic() < self._retry_at:
            raise TemporalUnavailable(
                f"Temporal is not reachable at {self._settings.temporal_address}"
            )
        try:
            self._client = await connect(self._settings)
        except Exception:
            self._retry_at = time.monotonic() + RECONNECT_AFTER
            raise
        return self._client
