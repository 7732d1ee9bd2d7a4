"""A TradingView alert becomes exactly one order (or one stop-loss / take-profit update):
size it, place it, record it, update the position, and write the outcome on the webhook
record."""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.guard_calls import GuardCalls, ProtectCall
    from activities.trading import TradingContext
    from activities.webhooks import WebhookActivities, WebhookOutcome
    from workflows.failures import failure_message
    from workflows.inputs import (
        WEBHOOK_SIGNAL,
        OrderIntent,
        ProtectRequest,
        WebhookSignalInput,
        WebhookSignalResult,
    )
    from workflows.order_path import DATABASE, OrderPath, guard_call, load_context

# What a stop-loss / take-profit update's answer means for the webhook record.
PROTECTION_FAILURES = ("rejected", "restored", "unprotected", "closed", "failed")


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
        context = await load_context(signal.broker_id, signal.symbol)
        if context.trading_mode != "webhooks":
            raise ApplicationError(
                f"broker '{context.broker_name}' has trading mode '{context.trading_mode}':"
                " set it to 'webhooks' to trade from TradingView alerts",
                type="TradingModeOff",
                non_retryable=True,
            )
        if signal.action == "MAJ":
            return await self._update_protection(signal, context)
        path = OrderPath(
            OrderIntent(
                user_id=signal.user_id,
                broker_id=signal.broker_id,
                symbol=signal.symbol,
                side="buy" if signal.action.startswith("Buy") else "sell",
                type="market" if signal.action.endswith("Market") else "limit",
                source="webhook",
                percent=signal.percent,
                price=signal.price,
                stop_loss=signal.stop_loss,
                take_profit=signal.take_profit,
                webhook_id=signal.webhook_id,
            ),
            context,
        )
        try:
            outcome = await path.execute()
        finally:
            self._order_id = path.order_id
        return WebhookSignalResult(
            status="processed",
            outcome=outcome.outcome,
            order_id=outcome.order_id,
            position_id=outcome.position_id,
        )

    async def _update_protection(
        self, signal: WebhookSignalInput, context: TradingContext
    ) -> WebhookSignalResult:
        """MAJ: new stop-loss / take-profit for the open position, through its guard."""
        answer = await workflow.execute_activity_method(
            GuardCalls.update_protection,
            ProtectCall(
                broker_id=signal.broker_id,
                symbol=context.market.symbol,
                request=ProtectRequest(
                    request_id=f"{workflow.info().workflow_id}/protect",
                    stop_loss=signal.stop_loss,
                    take_profit=signal.take_profit,
                    source="webhook",
                ),
            ),
            **guard_call(),
        )
        if answer.status in PROTECTION_FAILURES:
            raise ApplicationError(answer.message, type="ProtectionNotUpdated", non_retryable=True)
        return WebhookSignalResult(
            status="processed", outcome=answer.message, position_id=answer.position_id
        )
