"""The strategy runner: one long-running workflow per market and timeframe, fed closed
candles by the heartbeat's signals. For each candle, in order, every strategy active on that
market and timeframe is evaluated by an activity (which runs the user's code in the sandbox
and starts the order its decision asks for). A candle is evaluated once per strategy: the
runner skips candles it has done, and the evaluation itself is keyed by strategy and candle.

Workflow code: deterministic, every side effect is an activity."""

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.strategies import ActiveRequest, StrategyActivities
    from workflows.failures import failure_message
    from workflows.strategy_inputs import (
        CANDLE_CLOSED,
        STRATEGY_RUNNER,
        CandlesClosed,
        EvaluationRequest,
        EvaluationResult,
        RunnerInput,
    )

# Reading which strategies are active is a short database query.
LIST_ACTIVE = workflow.LocalActivityConfig(
    start_to_close_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
)
# An evaluation runs user code (bounded by the sandbox's limits), reads the balance and
# starts the order workflow. The runner waits for every strategy of a candle before the
# next one, so one strategy's unreachable exchange may delay the others by at most the
# schedule-to-close bound. A strategy that keeps failing is marked `error` by the activity
# itself.
EVALUATE = workflow.ActivityConfig(
    schedule_to_close_timeout=timedelta(seconds=45),
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=5),
        maximum_attempts=4,
    ),
)
# A bound on one run's history besides the server's suggestion: each candle adds a few
# events per strategy.
MAX_CANDLES_PER_RUN = 500


@workflow.defn(name=STRATEGY_RUNNER)
class StrategyRunnerWorkflow:
    def __init__(self) -> None:
        self._input: RunnerInput | None = None
        self._pending: list[datetime] = []
        self._last_done: datetime | None = None
        self._evaluated = 0
        self._run_candles = 0
        self._last_results: list[EvaluationResult] = []

    @workflow.signal(name=CANDLE_CLOSED)
    def candles_closed(self, candles: CandlesClosed) -> None:
        for at in candles.open_times:
            if self._last_done is not None and at <= self._last_done:
                continue  # evaluated already (a stream and a backfill both announced it)
            if at not in self._pending:
                self._pending.append(at)
        self._pending.sort()

    @workflow.query
    def status(self) -> dict[str, object]:
        return {
            "pending": [t.isoformat() for t in self._pending],
            "last_done": self._last_done.isoformat() if self._last_done else None,
            "evaluated": self._evaluated,
            "last_results": [r.model_dump(mode="json") for r in self._last_results],
        }

    @workflow.run
    async def run(self, start: RunnerInput) -> None:
        self._input = start
        self._last_done = start.last_done
        self._evaluated = start.evaluated
        self.candles_closed(CandlesClosed(open_times=start.pending))
        while True:
            await workflow.wait_condition(lambda: bool(self._pending) or self._should_roll())
            if self._should_roll():
                # Signals are only handled between tasks: none is lost, the pending ones
                # travel with the new run.
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    RunnerInput(
                        symbol=start.symbol,
                        timeframe=start.timeframe,
                        pending=list(self._pending),
                        last_done=self._last_done,
                        evaluated=self._evaluated,
                    )
                )
            open_time = self._pending.pop(0)
            self._last_results = await self._evaluate(start, open_time)
            self._last_done = open_time
            self._evaluated += 1
            self._run_candles += 1

    def _should_roll(self) -> bool:
        return (
            workflow.info().is_continue_as_new_suggested()
            or self._run_candles >= MAX_CANDLES_PER_RUN
        )

    async def _evaluate(self, start: RunnerInput, open_time: datetime) -> list[EvaluationResult]:
        strategy_ids = await workflow.execute_local_activity_method(
            StrategyActivities.active_strategies,
            ActiveRequest(symbol=start.symbol, timeframe=start.timeframe, open_time=open_time),
            **LIST_ACTIVE,
        )
        outcomes = await asyncio.gather(
            *(
                workflow.execute_activity_method(
                    StrategyActivities.evaluate_strategy,
                    EvaluationRequest(
                        strategy_id=strategy_id,
                        symbol=start.symbol,
                        timeframe=start.timeframe,
                        open_time=open_time,
                    ),
                    **EVALUATE,
                )
                for strategy_id in strategy_ids
            ),
            return_exceptions=True,
        )
        results = []
        for strategy_id, outcome in zip(strategy_ids, outcomes, strict=True):
            if isinstance(outcome, ActivityError):
                # Retries exhausted (database or Temporal unreachable): this strategy skips
                # this candle; the others went on. The activity marks user-code failures.
                workflow.logger.warning(
                    "strategy %s not evaluated on %s: %s",
                    strategy_id,
                    open_time,
                    failure_message(outcome),
                )
                results.append(
                    EvaluationResult(
                        strategy_id=strategy_id, action="error", message=failure_message(outcome)
                    )
                )
            elif isinstance(outcome, BaseException):
                raise outcome
            else:
                results.append(outcome)
        return results
