"""An order from the dashboard (or `POST /api/orders`): the shared order path, source
`manual`. The workflow id comes from the confirmation, so a double submit is one order."""

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from workflows.failures import failure_message
    from workflows.inputs import OrderIntent, OrderOutcome
    from workflows.manual_inputs import MANUAL_ORDER
    from workflows.order_path import OrderPath


@workflow.defn(name=MANUAL_ORDER)
class ManualOrderWorkflow:
    def __init__(self) -> None:
        self._path: OrderPath | None = None

    @workflow.query
    def order_id(self) -> int | None:
        return self._path.order_id if self._path else None

    @workflow.run
    async def run(self, intent: OrderIntent) -> OrderOutcome:
        self._path = OrderPath(intent)
        try:
            return await self._path.execute()
        except (ActivityError, ApplicationError) as error:
            # One plain sentence for the API answer and the Web UI (not a nested chain).
            raise ApplicationError(
                failure_message(error), type="OrderFailed", non_retryable=True
            ) from error
