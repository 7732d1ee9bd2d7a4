"""The Temporal worker: which workflows and activities run on the task queue."""

from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import Worker

from activities.guard_calls import GuardCalls
from activities.order_edit import OrderEditActivities
from activities.orders import OrderActivities
from activities.protection import ProtectionActivities
from activities.reconcile import ReconcileActivities
from activities.strategies import StrategyActivities
from activities.symbols import SymbolActivities
from activities.trading import TradingActivities
from activities.webhooks import WebhookActivities
from workers.runtime import Runtime
from workflows.inputs import guard_calls_queue
from workflows.manual_order import ManualOrderWorkflow
from workflows.order_edit import CancelOrderWorkflow, ReplaceOrderWorkflow
from workflows.position_guard import PositionGuardWorkflow
from workflows.reconcile import ReconcileBrokerWorkflow
from workflows.strategy_action import StrategyActionWorkflow
from workflows.strategy_runner import StrategyRunnerWorkflow
from workflows.symbol_sync import SymbolSyncWorkflow
from workflows.webhook_signal import WebhookSignalWorkflow


def build_workers(client: Client, runtime: Runtime) -> list[Worker]:
    return [build_worker(client, runtime), build_guard_calls_worker(client, runtime)]


def build_guard_calls_worker(
    client: Client, runtime: Runtime, task_queue: str | None = None
) -> Worker:
    """The activities that wait for a position's guard, on a queue of their own: a burst of
    sells or MAJ alerts waiting there must not take every slot of the main queue, where the
    guards' own exchange calls run."""
    queue = task_queue or runtime.settings.task_queue
    guards = GuardCalls(runtime.sessions, client, queue)
    return Worker(
        client,
        task_queue=guard_calls_queue(queue),
        activities=[
            guards.hold_protection,
            guards.resume_protection,
            guards.sync_protection,
            guards.sync_open_position,
            guards.update_protection,
        ],
        graceful_shutdown_timeout=timedelta(seconds=runtime.settings.worker_shutdown_grace),
    )


def build_worker(client: Client, runtime: Runtime, task_queue: str | None = None) -> Worker:
    trading = TradingActivities(runtime.sessions, runtime.connectors)
    orders = OrderActivities(runtime.sessions, runtime.vault.install_salt)
    webhooks = WebhookActivities(runtime.sessions)
    symbols = SymbolActivities(runtime.sessions, runtime.connectors)
    reconcile = ReconcileActivities(runtime.sessions, runtime.connectors)
    edits = OrderEditActivities(runtime.sessions, runtime.connectors)
    queue = task_queue or runtime.settings.task_queue
    protection = ProtectionActivities(
        runtime.sessions, runtime.connectors, runtime.vault.install_salt
    )
    guards = GuardCalls(runtime.sessions, client, queue)
    strategies = StrategyActivities(runtime.sessions, trading, runtime.sandbox, client, queue)
    return Worker(
        client,
        task_queue=queue,
        workflows=[
            WebhookSignalWorkflow,
            SymbolSyncWorkflow,
            ReconcileBrokerWorkflow,
            PositionGuardWorkflow,
            ManualOrderWorkflow,
            CancelOrderWorkflow,
            ReplaceOrderWorkflow,
            StrategyRunnerWorkflow,
            StrategyActionWorkflow,
        ],
        activities=[
            trading.load_trading_context,
            trading.fetch_market_snapshot,
            trading.place_order,
            orders.record_new_order,
            orders.record_placed_order,
            orders.record_order_failure,
            webhooks.mark_webhook_processing,
            webhooks.finish_webhook,
            symbols.sync_symbols,
            symbols.fail_symbol_sync,
            reconcile.reconcile_broker,
            edits.load_order,
            edits.cancel_on_exchange,
            edits.record_final_state,
            protection.refresh_protection,
            protection.cancel_protection,
            protection.place_protection,
            protection.save_protection,
            protection.flag_protection,
            guards.wake_guards,
            strategies.active_strategies,
            strategies.evaluate_strategy,
        ],
        # A restart waits for an in-flight order activity instead of cutting it in half.
        graceful_shutdown_timeout=timedelta(seconds=runtime.settings.worker_shutdown_grace),
    )
