"""One reconciliation pass of a broker, started by its Temporal Schedule."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.reconcile import ReconcileActivities
    from workflows.inputs import RECONCILE, ReconcileInput, ReconcileResult


@workflow.defn(name=RECONCILE)
class ReconcileBrokerWorkflow:
    @workflow.run
    async def run(self, request: ReconcileInput) -> ReconcileResult:
        # The next scheduled pass is the retry: a failing pass ends quickly.
        return await workflow.execute_activity_method(
            ReconcileActivities.reconcile_broker,
            request,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=20),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )
