"""One reconciliation pass of a broker, started by its Temporal Schedule."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.guard_calls import GuardCalls
    from activities.reconcile import ReconcileActivities
    from workflows.inputs import RECONCILE, ReconcileInput, ReconcileResult


@workflow.defn(name=RECONCILE)
class ReconcileBrokerWorkflow:
    @workflow.run
    async def run(self, request: ReconcileInput) -> ReconcileResult:
        # The next scheduled pass is the retry: a failing pass ends quickly.
        result = await workflow.execute_activity_method(
            ReconcileActivities.reconcile_broker,
            request,
            start_to_close_timeout=timedelta(seconds=60),
            heartbeat_timeout=timedelta(seconds=20),
            retry_policy=RetryPolicy(maximum_attempts=2),
        )
        if result.positions:
            # Each position's guard cancels the sibling of a filled stop / target, or places
            # the protection of an entry that filled while nobody watched.
            await workflow.execute_activity_method(
                GuardCalls.wake_guards,
                result.positions,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_attempts=5),
            )
        return result
