"""A TradingView alert becomes exactly one order: size it, place it, record it, update the
position, and write the outcome on the webhook record."""

from datetime import timedelta
from decimal import Decimal

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.orders import (
        NewOrder,
        OrderActivities,
        OrderFailure,
        PlacedOrder,
        PositionSummary,
    )
    from activities.trading import (
        PlaceOrderRequest,
        SnapshotRequest,
        TradingActivities,
        TradingContext,
        TradingContextRequest,
    )
    from activities.webhooks import WebhookActivities, WebhookOutcome
    from exchanges.types import ExchangeOrder, OrderRequest
    from trading.format import plain
    from trading.sizing import OrderSize, SizingError, size_buy, size_sell
    from workflows.failures import failure_message, is_business_failure
    from workflows.inputs import WEBHOOK_SIGNAL, WebhookSignalInput, WebhookSignalResult

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
# the alert with an error rather than keep it "processing".
CONTEXT = workflow.LocalActivityConfig(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=5,
    ),
)
EXCHANGE_READ = workflow.ActivityConfig(
    schedule_to_close_timeout=timedelta(minutes=10),
    start_to_close_timeout=timedelta(seconds=30),
    heartbeat_timeout=timedelta(seconds=5),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=10,
    ),
)
# A placement may be retried only because the retry looks the client order id up first.
EXCHANGE_WRITE = workflow.ActivityConfig(
    schedule_to_close_timeout=timedelta(minutes=10),
    start_to_close_timeout=timedelta(seconds=30),
    heartbeat_timeout=timedelta(seconds=5),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=30),
        maximum_attempts=20,
    ),
)


@workflow.defn(name=WEBHOOK_SIGNAL)
class WebhookSignalWorkflow:
    def __init__(self) -> None:
        self._order_id: int | None = None

    @workflow.run
    async def run(self, signal: WebhookSignalInput) -> WebhookSignalResult:
        await workflow.execute_local_activity_method(
            WebhookActivities.mark_webhook_processing, signal.webhook_id, **DATABASE
        )
        try:
            result = await self._execute(signal)
        except (ActivityError, ApplicationError) as error:
            message = failure_message(error)
            await workflow.execute_local_activity_method(
                WebhookActivities.finish_webhook,
                WebhookOutcome(
                    webhook_id=signal.webhook_id,
                    status="error",
                    error=message,
                    order_id=self._order_id,
                ),
                **DATABASE,
            )
            raise ApplicationError(message, non_retryable=True) from error
        await workflow.execute_local_activity_method(
            WebhookActivities.finish_webhook,
            WebhookOutcome(
                webhook_id=signal.webhook_id,
                status="processed",
                outcome=result.outcome,
                order_id=result.order_id,
            ),
            **DATABASE,
        )
        return result

    async def _execute(self, signal: WebhookSignalInput) -> WebhookSignalResult:
        if signal.action == "PING":
            return WebhookSignalResult(status="processed", outcome="PING received")
        assert signal.symbol is not None
        context = await workflow.execute_local_activity_method(
            TradingActivities.load_trading_context,
            TradingContextRequest(broker_id=signal.broker_id, symbol=signal.symbol),
            **CONTEXT,
        )
        if context.trading_mode != "webhooks":
            raise ApplicationError(
                f"broker '{context.broker_name}' has trading mode '{context.trading_mode}':"
                " set it to 'webhooks' to trade from TradingView alerts",
                type="TradingModeOff",
                non_retryable=True,
            )
        if signal.action == "MAJ":
            raise ApplicationError("MAJ is not supported yet", non_retryable=True)
        size = await self._size(signal, context)
        side = "buy" if signal.action.startswith("Buy") else "sell"
        order_type = "market" if signal.action.endswith("Market") else "limit"
        recorded = await workflow.execute_local_activity_method(
            OrderActivities.record_new_order,
            NewOrder(
                user_id=signal.user_id,
                broker_id=signal.broker_id,
                symbol=signal.symbol,
                side=side,
                type=order_type,
                source="webhook",
                step="entry" if side == "buy" else "exit",
                quantity=None if size.quote_amount else size.quantity,
                quote_amount=size.quote_amount,
                price=size.limit_price,
                webhook_id=signal.webhook_id,
            ),
            **DATABASE,
        )
        self._order_id = recorded.order_id
        placed = await self._place(
            signal,
            OrderRequest(
                symbol=signal.symbol,
                side=side,
                type=order_type,
                client_order_id=recorded.client_order_id,
                quantity=None if size.quote_amount else size.quantity,
                quote_amount=size.quote_amount,
                price=size.limit_price,
            ),
        )
        position = await workflow.execute_local_activity_method(
            OrderActivities.record_placed_order,
            PlacedOrder(
                order_id=recorded.order_id,
                exchange_order=placed,
                market=context.market,
                stop_loss=signal.stop_loss,
                take_profit=signal.take_profit,
                webhook_id=signal.webhook_id,
            ),
            **DATABASE,
        )
        outcome = _describe(placed, context, position)
        if signal.stop_loss is not None or signal.take_profit is not None:
            outcome += "; stop-loss/take-profit recorded on the position, not yet placed as orders"
        return WebhookSignalResult(
            status="processed",
            outcome=outcome,
            order_id=recorded.order_id,
            position_id=position.position_id if position else None,
        )

    async def _size(self, signal: WebhookSignalInput, context: TradingContext) -> OrderSize:
        market = context.market
        limit = signal.action.endswith("Limit")
        snapshot = await workflow.execute_activity_method(
            TradingActivities.fetch_market_snapshot,
            SnapshotRequest(broker_id=signal.broker_id, symbol=market.symbol, with_price=not limit),
            **EXCHANGE_READ,
        )
        balances = snapshot.balances
        # A market order is sized from the market, never from a price in the alert.
        price = signal.price if limit else snapshot.price
        if price is None:
            raise ApplicationError(f"no price for {market.symbol}", non_retryable=True)
        try:
            if signal.action.startswith("Buy"):
                quote = balances.get(market.quote)
                return size_buy(
                    market,
                    quote.free if quote else Decimal(0),
                    signal.percent,
                    price,
                    by_quote_amount=not limit and context.capabilities.market_buy_by_quote,
                    limit=limit,
                    quote_fee_reserve=context.capabilities.quote_fee_reserve,
                )
            base = balances.get(market.base)
            return size_sell(
                market, base.free if base else Decimal(0), signal.percent, price, limit=limit
            )
        except SizingError as error:
            raise ApplicationError(str(error), type="SizingError", non_retryable=True) from None

    async def _place(self, signal: WebhookSignalInput, order: OrderRequest) -> ExchangeOrder:
        assert self._order_id is not None
        try:
            return await workflow.execute_activity_method(
                TradingActivities.place_order,
                PlaceOrderRequest(broker_id=signal.broker_id, order=order),
                **EXCHANGE_WRITE,
            )
        except ActivityError as error:
            await workflow.execute_local_activity_method(
                OrderActivities.record_order_failure,
                OrderFailure(
                    order_id=self._order_id,
                    status="rejected" if is_business_failure(error) else "error",
                    message=failure_message(error),
                ),
                **DATABASE,
            )
            raise


def _describe(
    placed: ExchangeOrder, context: TradingContext, position: PositionSummary | None
) -> str:
    market = context.market
    verb = "bought" if placed.side == "buy" else "sold"
    if placed.status == "open":
        text = (
            f"{placed.type} {placed.side} of {plain(placed.quantity)} {market.base} at"
            f" {plain(placed.price)} {market.quote} placed on {context.exchange},"
            " waiting for the market"
        )
    else:
        fee = f"{plain(placed.fee)} {placed.fee_asset or ''}".rstrip()
        text = (
            f"{verb} {plain(placed.filled_quantity)} {market.base} at"
            f" {plain(placed.average_price)} {market.quote} (fee {fee})"
        )
    if position and position.position_id is not None:
        text += (
            f"; position #{position.position_id} {position.status},"
            f" {plain(position.quantity)} {market.base}"
        )
    return text
