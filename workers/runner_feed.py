"""The heartbeat's sink in production: each newly stored closed candle is signalled to the
strategy runner of its market and timeframe (signal-with-start: the first candle starts it).
Markets no strategy trades are not signalled, so an idle install stays quiet in Temporal."""

from sqlalchemy import select
from temporalio.client import Client

from db.models import Strategy
from db.session import SessionFactory
from exchanges.types import Candle
from workflows.strategy_inputs import (
    CANDLE_CLOSED,
    STRATEGY_RUNNER,
    CandlesClosed,
    RunnerInput,
    runner_workflow_id,
)


class RunnerSignals:
    def __init__(self, client: Client, sessions: SessionFactory, task_queue: str) -> None:
        self._client = client
        self._sessions = sessions
        self._task_queue = task_queue

    async def closed(self, symbol: str, timeframe: str, candles: list[Candle]) -> None:
        if not candles or not await self._traded(symbol, timeframe):
            return
        await self._client.start_workflow(
            STRATEGY_RUNNER,
            RunnerInput(symbol=symbol, timeframe=timeframe),
            id=runner_workflow_id(symbol, timeframe),
            task_queue=self._task_queue,
            start_signal=CANDLE_CLOSED,
            start_signal_args=[CandlesClosed(open_times=[c.open_time for c in candles])],
        )

    async def _traded(self, symbol: str, timeframe: str) -> bool:
        async with self._sessions() as session:
            found = await session.scalar(
                select(Strategy.id)
                .where(
                    Strategy.status == "active",
                    Strategy.symbol == symbol,
                    Strategy.timeframe == timeframe,
                )
                .limit(1)
            )
        return found is not None
