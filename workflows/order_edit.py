"""Cancel and edit (cancel/replace) of a resting order from the dashboard.

Cancel: cancel on the exchange, record how the order ended and apply a partial fill to the
position. Replace: check the new price/quantity first (nothing is touched if they are
refused), cancel the old limit order, then place the new one through the shared order
path (a new client order id); refused when the old order filled meanwhile. Both then ask
the position's guard to look again: a canceled sell frees the quantity its stop-loss was
waiting for, a partly filled buy opens a position that wants its stop-loss."""

from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.guard_calls import GuardCalls, HoldCall
    from activities.order_edit import FinalState, OrderEditActivities, OrderView
    from activities.trading import TradingContext
    from exchanges.types import Market
    from trading.format import plain
    from trading.sizing import SizingError, size_given
    from workflows.failures import failure_message
    from workflows.inputs import OrderIntent, OrderOutcome
    from workflows.manual_inputs import (
        CANCEL_ORDER,
        REPLACE_ORDER,
        CancelInput,
        EditOutcome,
        ReplaceInput,
    )
    from workflows.order_path import DATABASE, OrderPath, guard_call, load_context

OPEN_STATUSES = ("open", "partially_filled")
# A retried cancel is safe: a canceled (or filled) order answers with its final state.
CANCEL = workflow.ActivityConfig(
    schedule_to_close_timeout=timedelta(minutes=2),
    start_to_close_timeout=timedelta(seconds=30),
    heartbeat_timeout=timedelta(seconds=5),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10),
)


def _refuse(message: str) -> ApplicationError:
    return ApplicationError(message, type="EditRefused", non_retryable=True)


async def _load(order_id: int) -> OrderView:
    return await workflow.execute_local_activity_method(
        OrderEditActivities.load_order, order_id, **DATABASE
    )


async def _cancel(order: OrderView) -> OrderView:
    if order.status not in OPEN_STATUSES:
        raise _refuse(f"order #{order.id} is {order.status.replace('_', ' ')}: not open")
    answer = await workflow.execute_activity_method(
        OrderEditActivities.cancel_on_exchange, order.id, **CANCEL
    )
    final = await workflow.execute_local_activity_method(
        OrderEditActivities.record_final_state,
        FinalState(order_id=order.id, exchange_order=answer),
        **DATABASE,
    )
    if final.status in OPEN_STATUSES:
        raise _refuse(f"the exchange still has order #{order.id} open: cancel it again")
    return final


def _ended(order: OrderView) -> str:
    base = order.symbol.split("/")[0]
    if order.status == "filled":
        return (
            f"order #{order.id} had filled ({plain(order.filled_quantity)} {base} at"
            f" {plain(order.average_price)})"
        )
    text = f"order #{order.id} {order.status.replace('_', ' ')}"
    if order.filled_quantity > 0:
        text += f" after {plain(order.filled_quantity)} {base} filled"
    return text


async def _sync_guard(order: OrderView) -> str | None:
    """Asks the guard of the open position on the order's symbol to converge; what it did,
    or None when the position has no stop-loss / take-profit."""
    try:
        outcome = await workflow.execute_activity_method(
            GuardCalls.sync_open_position,
            HoldCall(
                broker_id=order.broker_id,
                symbol=order.symbol,
                request_id=f"{workflow.info().workflow_id}/sync",
            ),
            **guard_call(),
        )
    except ActivityError as error:
        # The cancel itself is done: report it as such rather than fail the workflow.
        return f"stop-loss / take-profit not checked: {failure_message(error)}"
    return None if outcome.status == "none" else outcome.message


def _with(text: str, note: str | None) -> str:
    return f"{text}; {note}" if note else text


def _failed(error: BaseException) -> ApplicationError:
    return ApplicationError(failure_message(error), type="EditFailed", non_retryable=True)


@workflow.defn(name=CANCEL_ORDER)
class CancelOrderWorkflow:
    @workflow.run
    async def run(self, request: CancelInput) -> EditOutcome:
        try:
            final = await _cancel(await _load(request.order_id))
        except ActivityError as error:
            raise _failed(error) from error
        note = await _sync_guard(final)
        return EditOutcome(
            order_id=final.id,
            status=final.status,
            outcome=_with(_ended(final), note),
            position_id=final.position_id,
        )


@workflow.defn(name=REPLACE_ORDER)
class ReplaceOrderWorkflow:
    def __init__(self) -> None:
        self._path: OrderPath | None = None

    @workflow.query
    def new_order_id(self) -> int | None:
        return self._path.order_id if self._path else None

    @workflow.run
    async def run(self, request: ReplaceInput) -> EditOutcome:
        try:
            return await self._replace(request)
        except ActivityError as error:
            raise _failed(error) from error

    async def _replace(self, request: ReplaceInput) -> EditOutcome:
        old = await _load(request.order_id)
        if old.type != "limit" or old.price is None or old.quantity is None:
            raise _refuse(f"order #{old.id} is a {old.type} order: only limit orders are edited")
        context = await load_context(old.broker_id, old.symbol)
        price = request.price if request.price is not None else old.price
        quantity = request.quantity
        problem = _size_problem(
            context.market, old, price, quantity or old.quantity - old.filled_quantity
        )
        if problem is not None:
            raise _refuse(f"not replaced: {problem}")
        final = await _cancel(old)
        if final.status == "filled":
            raise _refuse(f"not replaced: {_ended(final)} before it could be canceled")
        try:
            placed = await self._place_new(context, old, final, price, quantity)
        except (ActivityError, ApplicationError) as error:
            # The old order is gone whatever failed here: say so, or the user may think it
            # still rests.
            note = await _sync_guard(final)
            message = f"{_ended(final)}; no new order: {failure_message(error)}"
            raise ApplicationError(
                _with(message, note), type="EditFailed", non_retryable=True
            ) from None
        # After the new order, not between: a sell's new path lifts the stop again at once.
        note = await _sync_guard(final)
        return EditOutcome(
            order_id=placed.order_id,
            status=placed.status,
            outcome=_with(
                f"{_ended(final)}, replaced by order #{placed.order_id}: {placed.outcome}", note
            ),
            replaced_order_id=old.id,
            position_id=placed.position_id,
        )

    async def _place_new(
        self,
        context: TradingContext,
        old: OrderView,
        final: OrderView,
        price: Decimal,
        quantity: Decimal | None,
    ) -> OrderOutcome:
        if quantity is None:
            assert final.quantity is not None
            quantity = final.quantity - final.filled_quantity
        problem = _size_problem(context.market, old, price, quantity)
        if problem is not None:
            raise _refuse(problem)
        self._path = OrderPath(
            OrderIntent(
                user_id=old.user_id,
                broker_id=old.broker_id,
                symbol=old.symbol,
                side="buy" if old.side == "buy" else "sell",
                type="limit",
                source="manual",
                quantity=quantity,
                price=price,
                stop_loss=old.stop_loss,
                take_profit=old.take_profit,
            ),
            context,
        )
        return await self._path.execute()


def _size_problem(market: Market, old: OrderView, price: Decimal, quantity: Decimal) -> str | None:
    try:
        size_given(market, price, quantity=quantity, buy=old.side == "buy", limit=True)
    except SizingError as error:
        return str(error)
    return None
