"""Calls into a position's guard workflow (the one writer of its protective orders), made
from activities because a workflow can signal another workflow but not start it and wait
for an answer: Temporal's update-with-start does both, atomically."""

from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation
from temporalio.common import WorkflowIDConflictPolicy

from activities.errors import business_error
from activities.heartbeat import heartbeating
from activities.orders import open_position
from db.models import Order, Position
from db.session import SessionFactory
from trading.protection import PROTECTIVE_TYPES, has_protection
from workflows.inputs import (
    POSITION_GUARD,
    GuardCall,
    GuardInput,
    HoldOutcome,
    HoldRequest,
    ProtectOutcome,
    ProtectRequest,
    position_guard_workflow_id,
)

Result = TypeVar("Result", bound=BaseModel)
LIVE = ("pending", "open", "partially_filled")


class HoldCall(BaseModel):
    broker_id: int
    symbol: str
    request_id: str


class HeldPosition(BaseModel):
    position_id: int | None = None  # set when its protective orders are held
    # The open position's quantity once held (None: no position is open), what a sell
    # closing the position may sell at most.
    open_quantity: Decimal | None = None


class ProtectCall(BaseModel):
    """For one position, or for the open position on (broker, symbol) (MAJ webhook)."""

    request: ProtectRequest
    position_id: int | None = None
    broker_id: int | None = None
    symbol: str | None = None


async def call_guard(
    client: Client,
    task_queue: str,
    position_id: int,
    update: str,
    argument: BaseModel,
    update_id: str,
    result_type: type[Result],
) -> Result:
    """Starts the position's guard if it is not running, and waits for its answer. The update
    id makes a retried call attach to the first one instead of being applied twice."""
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        POSITION_GUARD,
        GuardInput(position_id=position_id),
        id=position_guard_workflow_id(position_id),
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        task_queue=task_queue,
    )
    result: Any = await client.execute_update_with_start_workflow(
        update,
        argument,
        start_workflow_operation=start,
        id=update_id,
        result_type=result_type,
    )
    return result


class GuardCalls:
    def __init__(self, sessions: SessionFactory, client: Client, task_queue: str) -> None:
        self._sessions = sessions
        self._client = client
        self._task_queue = task_queue

    async def _call(
        self, position_id: int, update: str, argument: BaseModel, update_id: str, kind: type[Result]
    ) -> Result:
        return await heartbeating(
            call_guard(
                self._client, self._task_queue, position_id, update, argument, update_id, kind
            )
        )

    @activity.defn
    async def hold_protection(self, call: HoldCall) -> HeldPosition:
        """Before a sell: the open position's protective orders are cancelled and kept off
        until `resume_protection`. Positions without protection are left alone."""
        async with self._sessions() as session:
            position = await open_position(session, call.broker_id, call.symbol)
            if position is None:
                return HeldPosition()
            if not await _guarded(session, position):
                return HeldPosition(open_quantity=position.quantity)
            position_id = position.id
        outcome = await self._call(
            position_id,
            "hold",
            HoldRequest(request_id=call.request_id),
            call.request_id,
            HoldOutcome,
        )
        # Read again: holding may have found a stop-loss or take-profit filled meanwhile.
        async with self._sessions() as session:
            position = await session.get(Position, position_id)
        still_open = position is not None and position.status == "open"
        return HeldPosition(
            position_id=position_id if outcome.held else None,
            open_quantity=position.quantity if position is not None and still_open else None,
        )

    @activity.defn
    async def resume_protection(self, call: GuardCall) -> ProtectOutcome:
        return await self._call(call.position_id, "resume", call, call.request_id, ProtectOutcome)

    @activity.defn
    async def sync_protection(self, call: GuardCall) -> ProtectOutcome:
        """After a fill: protective orders placed, or resized to the position's quantity."""
        async with self._sessions() as session:
            position = await session.get(Position, call.position_id)
            if position is None or not await _guarded(session, position):
                return ProtectOutcome(status="none", message="no stop-loss or take-profit")
        return await self._call(call.position_id, "sync", call, call.request_id, ProtectOutcome)

    @activity.defn
    async def sync_open_position(self, call: HoldCall) -> ProtectOutcome:
        """After a dashboard cancel/edit: a canceled sell frees the quantity a waiting
        stop-loss needs, a partly filled buy opens a position; neither goes through the
        order path's hold/resume/sync, so the open position's guard is asked to look."""
        async with self._sessions() as session:
            position = await open_position(session, call.broker_id, call.symbol)
            if position is None or not await _guarded(session, position):
                return ProtectOutcome(status="none", message="no stop-loss or take-profit")
            position_id = position.id
        return await self._call(
            position_id,
            "sync",
            GuardCall(position_id=position_id, request_id=call.request_id),
            call.request_id,
            ProtectOutcome,
        )

    @activity.defn
    async def update_protection(self, call: ProtectCall) -> ProtectOutcome:
        """New stop-loss / take-profit prices (MAJ webhook, dashboard, strategy)."""
        position_id = call.position_id
        if position_id is None:
            async with self._sessions() as session:
                position = await open_position(session, call.broker_id, call.symbol)
            if position is None:
                raise business_error(
                    f"no open position on {call.symbol} to update: a stop-loss / take-profit"
                    " update needs a position opened by a buy",
                    "NoOpenPosition",
                )
            position_id = position.id
        answer = await self._call(
            position_id, "protect", call.request, call.request.request_id, ProtectOutcome
        )
        return answer.model_copy(update={"position_id": position_id})

    @activity.defn
    async def wake_guards(self, position_ids: list[int]) -> None:
        """Reconciliation saw a fill touching these positions: their guards look again."""
        for position_id in position_ids:
            await self._client.start_workflow(
                POSITION_GUARD,
                GuardInput(position_id=position_id),
                id=position_guard_workflow_id(position_id),
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                task_queue=self._task_queue,
                start_signal="refresh",
            )


async def _guarded(session: AsyncSession, position: Position) -> bool:
    """Whether the position wants protection or still has protective orders live."""
    if has_protection(position.stop_loss, position.take_profit):
        return True
    live = await session.scalar(
        select(Order.id).where(
            Order.position_id == position.id,
            Order.type.in_(PROTECTIVE_TYPES),
            Order.status.in_(LIVE),
        )
    )
    return live is not None
