"""The one path every order takes inside a workflow (webhook, dashboard, strategy): size it,
record it, place it exactly once, apply its fill to the position, and keep the position's
stop-loss / take-profit in step (freed before a sell, placed or resized after a fill).

Workflow code: deterministic, every side effect is an activity."""

from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.guard_calls import GuardCall, GuardCalls, HoldCall
    from activities.orders import NewOrder, OrderActivities, OrderFailure, PlacedOrder
    from activities.trading import (
        PlaceOrderRequest,
        SnapshotRequest,
        TradingActivities,
        TradingContext,
        TradingContextRequest,
    )
    from exchanges.types import ExchangeOrder, OrderRequest
    from trading.format import plain
    from trading.sizing import OrderSize, SizingError, size_buy, size_given, size_sell
    from workflows.failures import failure_message, is_business_failure
    from workflows.inputs import OrderIntent, OrderOutcome, guard_calls_queue

# Short, idempotent database steps run as local activities: inside the workflow task,
# without a round trip through the Temporal server (most of an order's steps).
DATABASE = workflow.LocalActivityConfig(
    start_to_close_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)
    ),
)
# The trading context reads the broker's symbol catalog, and fills it from the exchange on
# a never-synced broker's first order: bounded retries, an unreachable exchange must end
# the intent with an error rather than keep it "processing".
CONTEXT = workflow.LocalActivityConfig(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=5,
    ),
)


def _exchange_call(attempts: int) -> workflow.ActivityConfig:
    """An exchange call: retried with backoff, given up after 10 minutes in all."""
    return workflow.ActivityConfig(
        schedule_to_close_timeout=timedelta(minutes=10),
        start_to_close_timeout=timedelta(seconds=30),
        heartbeat_timeout=timedelta(seconds=5),
        retry_policy=RetryPolicy(
            initial_interval=timedelta(seconds=1),
            maximum_interval=timedelta(seconds=30),
            maximum_attempts=attempts,
        ),
    )


EXCHANGE_READ = _exchange_call(10)
# A placement may be retried only because the retry looks the client order id up first.
EXCHANGE_WRITE = _exchange_call(20)
# Calls to a position's guard wait while it replaces protective orders on the exchange; they
# run on their own task queue (workers/worker.py) so waiting calls never starve the guard.
_GUARD = workflow.ActivityConfig(
    start_to_close_timeout=timedelta(minutes=5),
    heartbeat_timeout=timedelta(seconds=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=10),
)


def guard_call() -> workflow.ActivityConfig:
    """The activity options of a call to a guard, from inside a workflow."""
    return _GUARD | workflow.ActivityConfig(
        task_queue=guard_calls_queue(workflow.info().task_queue)
    )


async def load_context(broker_id: int, symbol: str) -> TradingContext:
    return await workflow.execute_local_activity_method(
        TradingActivities.load_trading_context,
        TradingContextRequest(broker_id=broker_id, symbol=symbol),
        **CONTEXT,
    )


class OrderPath:
    def __init__(self, intent: OrderIntent, context: TradingContext | None = None) -> None:
        self.intent = intent
        self.context = context
        self.order_id: int | None = None
        # A sell closing a position: what the position holds once its protection is held.
        self._close_cap: Decimal | None = None

    async def execute(self) -> OrderOutcome:
        intent = self.intent
        if self.context is None:
            self.context = await load_context(intent.broker_id, intent.symbol)
        held_position = None
        if intent.side == "sell":
            # The protective orders hold the quantity on most exchanges: free it first.
            held = await workflow.execute_activity_method(
                GuardCalls.hold_protection,
                HoldCall(
                    broker_id=intent.broker_id,
                    symbol=intent.symbol,
                    request_id=f"{workflow.info().workflow_id}/hold",
                ),
                **guard_call(),
            )
            held_position = held.position_id
            if intent.close_quantity is not None:
                self._close_cap = min(intent.close_quantity, held.open_quantity or Decimal(0))
        resumed = None
        try:
            outcome = await self._place(self.context)
        finally:
            if held_position is not None:
                # Protect what is left (or nothing, once the position is closed).
                resumed = await workflow.execute_activity_method(
                    GuardCalls.resume_protection,
                    GuardCall(
                        position_id=held_position,
                        request_id=f"{workflow.info().workflow_id}/resume",
                        hold_id=f"{workflow.info().workflow_id}/hold",
                    ),
                    **guard_call(),
                )
        if resumed is not None and resumed.status not in ("applied", "none", "closed"):
            outcome.outcome += f"; {resumed.message}"
        if intent.side == "buy" and outcome.position_id is not None:
            protection = await workflow.execute_activity_method(
                GuardCalls.sync_protection,
                GuardCall(
                    position_id=outcome.position_id,
                    request_id=f"{workflow.info().workflow_id}/protect",
                ),
                **guard_call(),
            )
            if protection.status != "none":
                outcome.outcome += f"; {protection.message}"
        return outcome

    async def _place(self, context: TradingContext) -> OrderOutcome:
        intent = self.intent
        size = await self._size(context)
        recorded = await workflow.execute_local_activity_method(
            OrderActivities.record_new_order,
            NewOrder(
                user_id=intent.user_id,
                broker_id=intent.broker_id,
                symbol=intent.symbol,
                side=intent.side,
                type=intent.type,
                source=intent.source,
                step="entry" if intent.side == "buy" else "exit",
                quantity=None if size.quote_amount else size.quantity,
                quote_amount=size.quote_amount,
                price=size.limit_price,
                stop_loss=intent.stop_loss if intent.side == "buy" else None,
                take_profit=intent.take_profit if intent.side == "buy" else None,
                webhook_id=intent.webhook_id,
                strategy_id=intent.strategy_id,
            ),
            **DATABASE,
        )
        self.order_id = recorded.order_id
        placed = await self._send(
            OrderRequest(
                symbol=intent.symbol,
                side=intent.side,
                type=intent.type,
                client_order_id=recorded.client_order_id,
                quantity=None if size.quote_amount else size.quantity,
                quote_amount=size.quote_amount,
                price=size.limit_price,
            )
        )
        position = await workflow.execute_local_activity_method(
            OrderActivities.record_placed_order,
            PlacedOrder(
                order_id=recorded.order_id,
                exchange_order=placed,
                market=context.market,
                webhook_id=intent.webhook_id,
            ),
            **DATABASE,
        )
        text = describe(placed, context)
        position_id = None
        if position and position.position_id is not None:
            position_id = position.position_id
            text += (
                f"; position #{position.position_id} {position.status},"
                f" {plain(position.quantity)} {context.market.base}"
            )
        return OrderOutcome(
            order_id=recorded.order_id,
            status=placed.status,
            outcome=text,
            position_id=position_id if position and position.status == "open" else None,
        )

    async def _size(self, context: TradingContext) -> OrderSize:
        intent, market = self.intent, context.market
        limit = intent.type == "limit"
        snapshot = await workflow.execute_activity_method(
            TradingActivities.fetch_market_snapshot,
            SnapshotRequest(broker_id=intent.broker_id, symbol=market.symbol, with_price=not limit),
            **EXCHANGE_READ,
        )
        # A market order is sized from the market, never from a price in the request.
        price = intent.price if limit else snapshot.price
        if price is None:
            raise ApplicationError(f"no price for {market.symbol}", non_retryable=True)
        buy = intent.side == "buy"
        by_quote = not limit and context.capabilities.market_buy_by_quote
        try:
            if not buy and self._close_cap is not None:
                if self._close_cap <= 0:
                    raise SizingError(f"no open {market.symbol} position left to close")
                base = snapshot.balances.get(market.base)
                held = base.free if base else Decimal(0)
                return size_sell(
                    market, min(held, self._close_cap), Decimal(100), price, limit=limit
                )
            if intent.quantity is not None or intent.quote_amount is not None:
                return size_given(
                    market,
                    price,
                    quantity=intent.quantity,
                    quote_amount=intent.quote_amount,
                    buy=buy,
                    limit=limit,
                    by_quote_amount=by_quote,
                )
            percent = intent.percent if intent.percent is not None else Decimal(100)
            if buy:
                quote = snapshot.balances.get(market.quote)
                return size_buy(
                    market,
                    quote.free if quote else Decimal(0),
                    percent,
                    price,
                    by_quote_amount=by_quote,
                    limit=limit,
                    quote_fee_reserve=context.capabilities.quote_fee_reserve,
                )
            base = snapshot.balances.get(market.base)
            return size_sell(market, base.free if base else Decimal(0), percent, price, limit=limit)
        except SizingError as error:
            raise ApplicationError(str(error), type="SizingError", non_retryable=True) from None

    async def _send(self, order: OrderRequest) -> ExchangeOrder:
        assert self.order_id is not None
        try:
            return await workflow.execute_activity_method(
                TradingActivities.place_order,
                PlaceOrderRequest(broker_id=self.intent.broker_id, order=order),
                **EXCHANGE_WRITE,
            )
        except ActivityError as error:
            await workflow.execute_local_activity_method(
                OrderActivities.record_order_failure,
                OrderFailure(
                    order_id=self.order_id,
                    status="rejected" if is_business_failure(error) else "error",
                    message=failure_message(error),
                ),
                **DATABASE,
            )
            raise


def describe(placed: ExchangeOrder, context: TradingContext) -> str:
    market = context.market
    verb = "bought" if placed.side == "buy" else "sold"
    if placed.status == "open":
        return (
            f"{placed.type} {placed.side} of {plain(placed.quantity)} {market.base} at"
            f" {plain(placed.price)} {market.quote} placed on {context.exchange},"
            " waiting for the market"
        )
    fee = f"{plain(placed.fee)} {placed.fee_asset or ''}".rstrip()
    return (
        f"{verb} {plain(placed.filled_quantity)} {market.base} at"
        f" {plain(placed.average_price)} {market.quote} (fee {fee})"
    )
