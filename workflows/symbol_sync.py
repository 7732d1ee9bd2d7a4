"""Sync a broker's symbol catalog from its exchange (the old "MAJ Paires")."""

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.symbols import SymbolActivities, SyncFailure
    from workflows.failures import failure_message
    from workflows.inputs import SYMBOL_SYNC, SymbolSyncInput, SymbolSyncResult


@workflow.defn(name=SYMBOL_SYNC)
class SymbolSyncWorkflow:
    @workflow.run
    async def run(self, request: SymbolSyncInput) -> SymbolSyncResult:
        try:
            return await workflow.execute_activity_method(
                SymbolActivities.sync_symbols,
                request,
                start_to_close_timeout=timedelta(minutes=5),
                heartbeat_timeout=timedelta(seconds=20),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(seconds=20),
                    maximum_attempts=3,
                ),
            )
        except ActivityError as error:
            message = failure_message(error)
            await workflow.execute_local_activity_method(
                SymbolActivities.fail_symbol_sync,
                SyncFailure(sync_id=request.sync_id, message=message),
                start_to_close_timeout=timedelta(seconds=15),
            )
            raise ApplicationError(message, non_retryable=True) from error
