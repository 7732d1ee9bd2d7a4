"""Evaluating one strategy on one closed candle (the runner's activity): read what the
strategy may know (candles, position, balance, its kept `vars`), run its code in the sandbox,
record the decision once, and start the workflow that acts on it.

Exactly once per (strategy, candle): the evaluation row is unique on both; a retried
activity finds the row and only (re)starts the action workflow, whose id comes from the
strategy and the candle, so Temporal refuses a second one."""

import asyncio
import contextlib
import json
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Annotated, Any, Literal, Protocol

from loguru import logger
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from activities.orders import open_position
from activities.trading import SnapshotRequest, TradingActivities, TradingContextRequest
from db.base import utcnow
from db.events import emit
from db.models import Broker, Order, Strategy, StrategyEvaluation, User
from db.session import SessionFactory
from db.upsert import insert_ignore
from market.candle_store import timeframe_seconds, until
from sandbox import StrategyFailed
from strategies.engine import HISTORY  # the candles a strategy sees, as in backtests
from workflows.inputs import OrderIntent, ProtectRequest
from workflows.manual_inputs import CANCEL_ORDER, CancelInput
from workflows.search_attributes import order_attributes
from workflows.strategy_inputs import (
    STRATEGY_ACTION,
    EvaluationRequest,
    EvaluationResult,
    StrategyActionInput,
    action_workflow_id,
)

# Kept between candles (`self.vars`): small state, not a data store.
MAX_VARS_BYTES = 64 * 1024
# How long an evaluation waits for the previous decision's workflow to end (the runner
# waits for every strategy of a candle: keep it short).
PREVIOUS_ACTION_WAIT = 10.0
MAX_LATE_SECONDS = 900
# Refusals from the broker that asking again on the next candle would not change.
LASTING_REFUSALS = frozenset(
    {"BrokerNotFound", "UnknownSymbol", "AuthenticationFailed", "NotSupported"}
)
PENDING_ENTRY = ("pending", "open", "partially_filled")
# Temporal keeps a closed workflow's history for at least a day: a decision's workflow it
# does not know, recorded less than that ago, was never started.
NEVER_STARTED_WITHIN = timedelta(hours=23)


def _to_column(value: Decimal) -> Decimal:
    """To the 18 places the database keeps (a float price like close * 1.04 on a coin
    priced 0.0000123 has more), then checked positive."""
    rounded = value.quantize(Decimal("1e-18"), rounding=ROUND_HALF_EVEN)
    if rounded <= 0:
        raise ValueError("must be greater than 0")
    return rounded


Amount = Annotated[
    Decimal, Field(allow_inf_nan=False, lt=Decimal("1e20")), AfterValidator(_to_column)
]


class Answer(BaseModel):
    """What the sandbox answers: checked strictly, it comes from user code."""

    model_config = ConfigDict(extra="forbid")

    action: Literal["none", "buy", "sell", "protect", "cancel_entry"]
    quantity: Amount | None = None
    price: Amount | None = None
    stop_loss: Amount | None = None
    take_profit: Amount | None = None
    message: str = Field(default="", max_length=500)
    vars: dict[str, Any] | None = None


class ActiveRequest(BaseModel):
    symbol: str
    timeframe: str
    open_time: datetime


class Sandbox(Protocol):
    """What the activities need of the sandbox pool (sandbox.StrategySandbox)."""

    async def call(self, function: str, request: dict[str, Any]) -> dict[str, Any]: ...


class StrategyActivities:
    def __init__(
        self,
        sessions: SessionFactory,
        trading: TradingActivities,
        sandbox: Sandbox,
        client: Client,
        task_queue: str,
    ) -> None:
        self._sessions = sessions
        self._trading = trading
        self._sandbox = sandbox
        self._client = client
        self._task_queue = task_queue

    @activity.defn
    async def active_strategies(self, request: ActiveRequest) -> list[int]:
        """The strategies to evaluate on this candle: active on its market and timeframe
        since before it closed (activating never trades on a candle already past)."""
        closed_at = request.open_time + timedelta(seconds=timeframe_seconds(request.timeframe))
        async with self._sessions() as session:
            rows = await session.scalars(
                select(Strategy.id)
                .join(Broker, Broker.id == Strategy.broker_id)
                .where(
                    Strategy.status == "active",
                    Strategy.symbol == request.symbol,
                    Strategy.timeframe == request.timeframe,
                    Strategy.activated_at <= closed_at,
                    # A broker switched to another mode stops its strategies at once.
                    Broker.trading_mode == "strategies",
                )
                .order_by(Strategy.id)
            )
            return list(rows)

    @activity.defn
    async def evaluate_strategy(self, request: EvaluationRequest) -> EvaluationResult:
        async with self._sessions() as session:
            strategy = await session.get(Strategy, request.strategy_id)
            runs = strategy is not None and await _still_runs(session, strategy, request)
            done = await _evaluation(session, request)
        if done is not None:
            return await self._resume(done)
        if strategy is None or not runs:
            return EvaluationResult(
                strategy_id=request.strategy_id, action="skipped", message="not active"
            )
        waiting = await self._previous_action_running(strategy)
        if waiting is not None:
            return await self._record(strategy, request, "none", {"message": waiting}, None, None)
        try:
            state = await self._state(strategy, request)
        except _NoCandle as missing:
            return EvaluationResult(strategy_id=strategy.id, action="skipped", message=str(missing))
        except ApplicationError as error:
            if error.type not in LASTING_REFUSALS:
                raise  # unreachable or rate limited for now: retried, then this candle skipped
            # The broker refuses for good (symbol not traded there, key revoked, broker
            # deleted): asking again on every candle would not help.
            return await self._fail(strategy, request, error.message)
        try:
            raw = await self._sandbox.call("decide", state)
        except StrategyFailed as failure:
            return await self._fail(strategy, request, failure.reason)
        try:
            answer = Answer.model_validate(raw)
        except ValidationError as invalid:
            problem = invalid.errors()[0]
            where = ".".join(str(part) for part in problem["loc"])
            return await self._fail(
                strategy, request, f"invalid decision ({where}: {problem['msg']})"
            )
        return await self._act(strategy, request, state, answer)

    # --- reading what the strategy may know -------------------------------------------

    async def _state(self, strategy: Strategy, request: EvaluationRequest) -> dict[str, Any]:
        assert strategy.broker_id is not None
        async with self._sessions() as session:
            candles = await until(
                session, request.symbol, request.timeframe, request.open_time, HISTORY
            )
            if not candles or candles[-1].open_time != request.open_time:
                raise _NoCandle(f"candle {request.open_time:%Y-%m-%d %H:%M} is not stored")
            position = await open_position(session, strategy.broker_id, request.symbol)
            entry = (
                await session.scalars(
                    select(Order.id).where(
                        Order.strategy_id == strategy.id,
                        Order.side == "buy",
                        Order.status.in_(PENDING_ENTRY),
                    )
                )
            ).first()
        context = await self._trading.load_trading_context(
            TradingContextRequest(broker_id=strategy.broker_id, symbol=request.symbol)
        )
        snapshot = await self._trading.fetch_market_snapshot(
            SnapshotRequest(broker_id=strategy.broker_id, symbol=request.symbol, with_price=False)
        )
        quote = snapshot.balances.get(context.market.quote)
        return {
            "code": strategy.code,
            "candles": [
                [int(c.open_time.timestamp() * 1000), *map(str, _ohlcv(c))] for c in candles
            ],
            "position": {
                "is_open": position is not None,
                "qty": str(position.quantity) if position else "0",
                "entry_price": str(position.entry_price) if position else None,
            },
            "pending_entry": entry is not None,
            "pending_order_id": entry,
            "balance": str(quote.free if quote else Decimal(0)),
            "step": str(context.market.amount_step),
            "stop_loss": _text(position.stop_loss) if position else None,
            "take_profit": _text(position.take_profit) if position else None,
            "vars": strategy.vars or {},
            "params": {},
        }

    async def _previous_action_running(self, strategy: Strategy) -> str | None:
        """A strategy is not asked again while the order its last decision started is still
        being placed: it would see a flat position and buy twice."""
        async with self._sessions() as session:
            last = (
                await session.scalars(
                    select(StrategyEvaluation)
                    .where(
                        StrategyEvaluation.strategy_id == strategy.id,
                        StrategyEvaluation.workflow_id.is_not(None),
                    )
                    .order_by(StrategyEvaluation.id.desc())
                    .limit(1)
                )
            ).first()
        if last is None or last.workflow_id is None:
            return None
        # Usually a matter of seconds (fill, then stop-loss / take-profit placed): wait a
        # little rather than skip the candle.
        deadline = asyncio.get_running_loop().time() + PREVIOUS_ACTION_WAIT
        started_late = False
        while True:
            try:
                described = await self._client.get_workflow_handle(last.workflow_id).describe()
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise  # Temporal unreachable: asking now could buy twice; retried
                if not started_late and await self._start_late(strategy, last):
                    started_late = True
                    continue  # started now: waited for as any other
                return None  # nothing runs
            if described.status != WorkflowExecutionStatus.RUNNING:
                return None
            if asyncio.get_running_loop().time() > deadline:
                return (
                    f"not asked: the previous decision's workflow {last.workflow_id}"
                    " is still running"
                )
            await asyncio.sleep(0.25)

    async def _start_late(self, strategy: Strategy, evaluation: StrategyEvaluation) -> bool:
        """The previous decision's workflow was never started (Temporal unreachable for all
        of that evaluation's retries): started now if its candle is still recent (in practice
        on 1-minute candles) and the strategy still runs as it did then; otherwise its
        evaluation says it was not traded. True when started."""
        start = (evaluation.decision or {}).get("start")
        if (
            start is None
            or evaluation.error is not None  # explained already
            or utcnow() - evaluation.created_at > NEVER_STARTED_WITHIN  # its history is gone
        ):
            return False
        async with self._sessions() as session:
            # An order under that id means it did run (its history may be gone early).
            ran = await session.scalar(
                select(Order.id).where(Order.workflow_id == evaluation.workflow_id).limit(1)
            )
        if ran is not None:
            return False
        request = EvaluationRequest(
            strategy_id=evaluation.strategy_id,
            symbol=evaluation.symbol,
            timeframe=evaluation.timeframe,
            open_time=evaluation.candle_time,
        )
        closed_at = request.open_time + timedelta(seconds=timeframe_seconds(request.timeframe))
        if evaluation.version != strategy.version or (
            strategy.activated_at is not None and strategy.activated_at > closed_at
        ):
            # Edited, paused and resumed, or moved since: the user's latest word wins.
            return await self._not_traded(evaluation, "the strategy changed since")
        stale = _staleness(request)
        if stale is not None:
            return await self._not_traded(evaluation, stale)
        logger.warning("starting {} late: its first start failed", evaluation.workflow_id)
        await self._start(evaluation, start)
        return True

    async def _not_traded(self, evaluation: StrategyEvaluation, why: str) -> bool:
        async with self._sessions.begin() as session:
            row = await session.get(StrategyEvaluation, evaluation.id, with_for_update=True)
            if row is not None and row.error is None:
                row.error = f"not traded: its workflow could not be started in time ({why})"
                await emit(session, row.user_id, "strategy", row.strategy_id)
        return False

    # --- acting on the answer ----------------------------------------------------------

    async def _act(
        self,
        strategy: Strategy,
        request: EvaluationRequest,
        state: dict[str, Any],
        answer: "Answer",
    ) -> EvaluationResult:
        action = answer.action
        decision: dict[str, Any] = answer.model_dump(mode="json", exclude={"vars"})
        decision["message"] = answer.message or action
        problem = _vars_problem(answer.vars)
        if problem is not None:
            return await self._fail(strategy, request, problem)
        stale = _staleness(request)
        workflow_id, start = None, None
        if action != "none" and stale is not None:
            decision["message"] += f"; not traded: {stale}"
        elif action == "cancel_entry" and state.get("pending_order_id") is not None:
            workflow_id = action_workflow_id(
                strategy.id, request.timeframe, _ms(request.open_time), action
            )
            start = {"workflow": CANCEL_ORDER, "input": {"order_id": state["pending_order_id"]}}
        elif action == "sell" and not state["position"]["is_open"]:
            decision["message"] += "; not traded: no open position to sell"
        elif action in ("buy", "sell", "protect"):
            workflow_id = action_workflow_id(
                strategy.id, request.timeframe, _ms(request.open_time), action
            )
            start = {
                "workflow": STRATEGY_ACTION,
                "input": _action_input(
                    strategy, request, answer, workflow_id, Decimal(state["position"]["qty"])
                ).model_dump(mode="json"),
            }
        if start is not None:
            decision["start"] = start
        return await self._record(strategy, request, action, decision, workflow_id, answer.vars)

    async def _record(
        self,
        strategy: Strategy,
        request: EvaluationRequest,
        action: str,
        decision: dict[str, Any],
        workflow_id: str | None,
        kept_vars: Any,
    ) -> EvaluationResult:
        now = utcnow()
        async with self._sessions.begin() as session:
            row = await session.get(Strategy, strategy.id, with_for_update=True)
            if row is None:  # deleted meanwhile
                return EvaluationResult(
                    strategy_id=strategy.id, action="skipped", message="deleted"
                )
            if not await _still_runs(session, row, request, version=strategy.version):
                # Paused, moved or edited while it was being evaluated: the user's latest
                # word wins, nothing is traded.
                action, workflow_id = "skipped", None
                decision = {"message": "not traded: the strategy changed during evaluation"}
            added = await _insert_evaluation(
                session,
                strategy,
                request,
                action=action,
                decision=decision,
                workflow_id=workflow_id,
                at=now,
            )
            if added and action != "skipped" and row is not None:
                row.last_decision = _last_decision(decision, action, request, workflow_id)
                row.last_candle_at = request.open_time
                if isinstance(kept_vars, dict):
                    row.vars = kept_vars
                await emit(session, row.user_id, "strategy", row.id)
            done = await _evaluation(session, request)
        assert done is not None
        return await self._resume(done)

    async def _fail(
        self, strategy: Strategy, request: EvaluationRequest, reason: str
    ) -> EvaluationResult:
        """The strategy's own fault (crash, limit, blocked call): it stops with the reason,
        the others keep running."""
        logger.warning("strategy {} stopped: {}", strategy.id, reason)
        async with self._sessions.begin() as session:
            row = await session.get(Strategy, strategy.id, with_for_update=True)
            if row is None:  # deleted meanwhile
                return EvaluationResult(strategy_id=strategy.id, action="skipped", message=reason)
            added = await _insert_evaluation(
                session, strategy, request, action="error", error=reason, at=utcnow()
            )
            # `added`: a retry of an evaluation that did record its decision changes nothing.
            # Only the version that failed: a fix saved meanwhile is not blamed.
            if added and row.status == "active" and row.version == strategy.version:
                row.status, row.error = "error", reason
                row.last_candle_at = request.open_time
                await emit(session, row.user_id, "strategy", row.id)
        return EvaluationResult(strategy_id=strategy.id, action="error", message=reason)

    async def _resume(self, evaluation: StrategyEvaluation) -> EvaluationResult:
        """Starts the decision's workflow if it has one; a second start of the same id is
        refused by Temporal, which makes retries safe."""
        decision = evaluation.decision or {}
        start = decision.get("start")
        if start is not None and evaluation.workflow_id is not None and evaluation.error is None:
            async with self._sessions() as session:
                strategy = await session.get(Strategy, evaluation.strategy_id)
            # A retry after a pause (kill switch) does not act on the decision any more.
            if strategy is not None and strategy.status == "active":
                await self._start(evaluation, start)
        return EvaluationResult(
            strategy_id=evaluation.strategy_id,
            action=evaluation.action,
            message=evaluation.error or str(decision.get("message", "")),
            workflow_id=evaluation.workflow_id,
        )

    async def _start(self, evaluation: StrategyEvaluation, start: dict[str, Any]) -> None:
        assert evaluation.workflow_id is not None
        async with self._sessions() as session:
            user = await session.get(User, evaluation.user_id)
            strategy = await session.get(Strategy, evaluation.strategy_id)
        argument: BaseModel = (
            CancelInput.model_validate(start["input"])
            if start["workflow"] == CANCEL_ORDER
            else StrategyActionInput.model_validate(start["input"])
        )
        # Already started by an earlier attempt: acted on once.
        with contextlib.suppress(WorkflowAlreadyStartedError):
            await self._client.start_workflow(
                start["workflow"],
                argument,
                id=evaluation.workflow_id,
                task_queue=self._task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=order_attributes(
                    user=user.username if user else str(evaluation.user_id),
                    broker_id=(strategy.broker_id or 0) if strategy else 0,
                    symbol=evaluation.symbol,
                    action=evaluation.action,
                    source="strategy",
                ),
            )


class _NoCandle(Exception):
    pass


async def _insert_evaluation(
    session: Any,
    strategy: Strategy,
    request: EvaluationRequest,
    *,
    action: str,
    at: datetime,
    decision: dict[str, Any] | None = None,
    error: str | None = None,
    workflow_id: str | None = None,
) -> int:
    """The evaluation's row, unless one exists for this strategy and candle (1 if added)."""
    return await insert_ignore(
        session,
        StrategyEvaluation,
        {
            "strategy_id": strategy.id,
            "user_id": strategy.user_id,
            "symbol": request.symbol,
            "timeframe": request.timeframe,
            "candle_time": request.open_time,
            "version": strategy.version,
            "action": action,
            "decision": decision,
            "error": error,
            "workflow_id": workflow_id,
            "created_at": at,
        },
        ["strategy_id", "timeframe", "candle_time"],
    )


async def _evaluation(session: Any, request: EvaluationRequest) -> StrategyEvaluation | None:
    row: StrategyEvaluation | None = (
        await session.scalars(
            select(StrategyEvaluation).where(
                StrategyEvaluation.strategy_id == request.strategy_id,
                StrategyEvaluation.timeframe == request.timeframe,
                StrategyEvaluation.candle_time == request.open_time,
            )
        )
    ).first()
    return row


async def _still_runs(
    session: Any, strategy: Strategy, request: EvaluationRequest, version: int | None = None
) -> bool:
    """Active on this market and timeframe, on a broker still in trading mode `strategies`,
    the candle not evaluated yet (and, when given, the code still that version)."""
    if not (
        strategy.status == "active"
        and strategy.broker_id is not None
        and strategy.symbol == request.symbol
        and strategy.timeframe == request.timeframe
        and (strategy.last_candle_at is None or strategy.last_candle_at < request.open_time)
        and (version is None or strategy.version == version)
    ):
        return False
    mode = await session.scalar(select(Broker.trading_mode).where(Broker.id == strategy.broker_id))
    return bool(mode == "strategies")


def _action_input(
    strategy: Strategy,
    request: EvaluationRequest,
    answer: "Answer",
    workflow_id: str,
    position_quantity: Decimal,
) -> StrategyActionInput:
    assert strategy.broker_id is not None
    action = answer.action
    if action == "protect":
        return StrategyActionInput(
            strategy_id=strategy.id,
            kind="protect",
            broker_id=strategy.broker_id,
            symbol=request.symbol,
            # Both prices as the strategy now wants them: None removes that order, as in
            # a backtest.
            protect=ProtectRequest(
                request_id=f"{workflow_id}/protect",
                stop_loss=answer.stop_loss,
                take_profit=answer.take_profit,
                replace_both=True,
                source="strategy",
            ),
        )
    buying = action == "buy"
    price = answer.price if buying else None
    intent = OrderIntent(
        user_id=strategy.user_id,
        broker_id=strategy.broker_id,
        symbol=request.symbol,
        side="buy" if buying else "sell",
        type="limit" if price is not None else "market",
        source="strategy",
        quantity=answer.quantity if buying else None,
        # Liquidate: what the position holds, as in a backtest (not other coins held).
        close_quantity=None if buying else position_quantity,
        price=price,
        stop_loss=answer.stop_loss if buying else None,
        take_profit=answer.take_profit if buying else None,
        strategy_id=strategy.id,
    )
    return StrategyActionInput(strategy_id=strategy.id, kind="order", intent=intent)


def _last_decision(
    decision: dict[str, Any], action: str, request: EvaluationRequest, workflow_id: str | None
) -> dict[str, Any]:
    return {
        "action": action,
        "message": decision.get("message", ""),
        "candle_time": request.open_time.isoformat(),
        "at": utcnow().isoformat(),
        "workflow_id": workflow_id,
        **{k: decision.get(k) for k in ("quantity", "price", "stop_loss", "take_profit")},
    }


def _staleness(request: EvaluationRequest) -> str | None:
    """A decision on a candle that closed long ago (a backlog after an outage) is recorded
    but not traded: the market has moved on. Late means over one candle, at least 2 minutes
    (a 1m candle) and at most 15 minutes (a 1d decision hours late is no decision)."""
    seconds = timeframe_seconds(request.timeframe)
    closed_at = request.open_time + timedelta(seconds=seconds)
    late = (utcnow() - closed_at).total_seconds()
    if late > max(120, min(seconds, MAX_LATE_SECONDS)):
        return f"the candle closed {int(late)} s ago"
    return None


def _vars_problem(kept: Any) -> str | None:
    if kept is None or isinstance(kept, dict):
        if kept is not None and len(json.dumps(kept)) > MAX_VARS_BYTES:
            return f"self.vars is over {MAX_VARS_BYTES // 1024} KiB: keep small state only"
        return None
    return "self.vars must stay a dict"


def _ohlcv(candle: Any) -> tuple[Decimal, ...]:
    return (candle.open, candle.high, candle.low, candle.close, candle.volume)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)
