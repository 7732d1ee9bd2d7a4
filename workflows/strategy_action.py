"""What a strategy's decision asks for, as its own workflow (source `strategy`): an order
through the shared order path (sizing, exactly-once placement, fill, position, stop-loss /
take-profit), or new stop-loss / take-profit prices through the position's guard."""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.guard_calls import GuardCalls, ProtectCall
    from workflows.failures import failure_message
    from workflows.order_path import OrderPath, guard_call, load_context
    from workflows.strategy_inputs import (
        STRATEGY_ACTION,
        StrategyActionInput,
        StrategyActionResult,
    )


@workflow.defn(name=STRATEGY_ACTION)
class StrategyActionWorkflow:
    def __init__(self) -> None:
        self._path: OrderPath | None = None

    @workflow.query
    def order_id(self) -> int | None:
        return self._path.order_id if self._path else None

    @workflow.run
    async def run(self, action: StrategyActionInput) -> StrategyActionResult:
        try:
            broker_id = action.intent.broker_id if action.intent else action.broker_id
            symbol = action.intent.symbol if action.intent else action.symbol
            if broker_id is None or symbol is None:
                raise ApplicationError("no broker or symbol", type="BadAction", non_retryable=True)
            context = await load_context(broker_id, symbol)
            if context.trading_mode != "strategies":
                # Switched since the decision: the user's latest word wins.
                raise ApplicationError(
                    f"broker '{context.broker_name}' has trading mode"
                    f" '{context.trading_mode}': strategies do not trade on it",
                    type="TradingModeOff",
                    non_retryable=True,
                )
            if action.kind == "order" and action.intent is not None:
                self._path = OrderPath(action.intent, context)
                outcome = await self._path.execute()
                return StrategyActionResult(
                    status=outcome.status,
                    outcome=outcome.outcome,
                    order_id=outcome.order_id,
                    position_id=outcome.position_id,
                )
            if action.protect is None:
                raise ApplicationError("nothing to do", type="BadAction", non_retryable=True)
            answer = await workflow.execute_activity_method(
                GuardCalls.update_protection,
                ProtectCall(
                    broker_id=action.broker_id, symbol=action.symbol, request=action.protect
                ),
                **guard_call(),
            )
            return StrategyActionResult(
                status=answer.status, outcome=answer.message, position_id=answer.position_id
            )
        except (ActivityError, ApplicationError) as error:
            raise ApplicationError(
                failure_message(error), type="StrategyActionFailed", non_retryable=True
            ) from error
