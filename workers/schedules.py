"""The reconciliation Schedule of each broker: created with the broker, paused while its
trading mode is off, deleted with it; `ensure_all` repairs any that are missing (e.g. a
broker created while Temporal was down)."""

from datetime import timedelta

from loguru import logger
from sqlalchemy import select
from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from db.models import Broker
from db.session import SessionFactory
from workflows.inputs import RECONCILE, ReconcileInput, reconcile_schedule_id


def _schedule(broker: Broker, task_queue: str, every: timedelta) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            RECONCILE,
            ReconcileInput(broker_id=broker.id),
            id=f"reconcile-b{broker.id}",
            task_queue=task_queue,
            execution_timeout=timedelta(minutes=5),
        ),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=every)]),
        # A slow pass is never overlapped by the next; missed passes are not replayed.
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timedelta(minutes=1)
        ),
        state=ScheduleState(
            paused=broker.trading_mode == "off",
            note="paused while the broker's trading mode is off"
            if broker.trading_mode == "off"
            else "",
        ),
    )


async def ensure_reconcile_schedule(
    client: Client, broker: Broker, task_queue: str, every: timedelta
) -> None:
    schedule = _schedule(broker, task_queue, every)
    schedule_id = reconcile_schedule_id(broker.id)
    try:
        await client.create_schedule(schedule_id, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await client.get_schedule_handle(schedule_id).update(replace)


async def delete_reconcile_schedule(client: Client, broker_id: int) -> None:
    try:
        await client.get_schedule_handle(reconcile_schedule_id(broker_id)).delete()
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def ensure_all(
    client: Client, sessions: SessionFactory, task_queue: str, every: timedelta
) -> int:
    async with sessions() as session:
        brokers = list(await session.scalars(select(Broker).order_by(Broker.id)))
    for broker in brokers:
        await ensure_reconcile_schedule(client, broker, task_queue, every)
    logger.info("reconciliation schedules in place for {} brokers", len(brokers))
    return len(brokers)
