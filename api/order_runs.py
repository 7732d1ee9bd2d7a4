"""Starting the dashboard's order workflows and answering with their outcome.

The answer is 202 with the workflow id at once, but the route first waits a little (3 s by
default, `?wait=` 0-10) for the workflow's result: a market order on a responsive exchange
is done by then, so the dashboard can say "bought 0.001 BTC at …" without a second round
trip. A slower one answers `submitted`; its order then arrives over the WebSocket."""

import asyncio
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi import HTTPException, Query, status
from pydantic import BaseModel
from sqlalchemy import select
from temporalio.client import WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from api.temporal_link import TemporalLink, TemporalUnavailable
from db.models import Order, User
from workers.runtime import Runtime
from workflows.search_attributes import order_attributes

Wait = Query(
    default=3.0, ge=0, le=10, description="seconds to wait for the outcome before answering"
)


class Submitted(BaseModel):
    workflow_id: str
    workflow_url: str | None
    # submitted (still running), else the order's status (filled, open, canceled, rejected,
    # error), or failed (nothing was placed or changed: see `error`).
    status: str
    order_id: int | None = None
    position_id: int | None = None
    # One sentence once done ("bought 0.001 BTC at 95000 USDT (fee …)"), or why it failed.
    outcome: str | None = None
    error: str | None = None
    # An edit: the order that was canceled and replaced by `order_id`.
    replaced_order_id: int | None = None


@dataclass(frozen=True)
class Start:
    """One workflow start: what, under which id, and how to label it in the Web UI."""

    workflow: str
    argument: BaseModel
    workflow_id: str
    result_type: type[BaseModel]
    broker_id: int
    symbol: str
    action: str
    # A second start while one runs: attach to it (USE_EXISTING) or refuse (FAIL: 409).
    attach: bool = True
    reuse: WorkflowIDReusePolicy = WorkflowIDReusePolicy.ALLOW_DUPLICATE
    # Known before the start: the order canceled, or the one an edit replaces.
    order_id: int | None = None
    replaced_order_id: int | None = None


async def start_and_follow(
    temporal: TemporalLink, runtime: Runtime, user: User, start: Start, wait: float
) -> Submitted:
    try:
        client = temporal.client
    except TemporalUnavailable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    handle: WorkflowHandle[Any, Any]
    try:
        handle = await client.start_workflow(
            start.workflow,
            start.argument,
            id=start.workflow_id,
            task_queue=runtime.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING
            if start.attach
            else WorkflowIDConflictPolicy.FAIL,
            id_reuse_policy=start.reuse,
            search_attributes=order_attributes(
                user=user.username,
                broker_id=start.broker_id,
                symbol=start.symbol,
                action=start.action,
                source="manual",
            ),
            execution_timeout=timedelta(days=1),
            result_type=start.result_type,
        )
    except WorkflowAlreadyStartedError:
        if not start.attach:
            raise HTTPException(
                status.HTTP_409_CONFLICT, "this is already being done: wait for it to finish"
            ) from None
        # The same confirmation again after its order finished: answer with that order.
        handle = client.get_workflow_handle(start.workflow_id, result_type=start.result_type)
    except Exception as exc:  # Temporal down or refusing: nothing was started
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"the order could not be started: {exc}"
        ) from exc
    return await follow(runtime, user, handle, start, wait)


async def follow(
    runtime: Runtime, user: User, handle: WorkflowHandle[Any, Any], start: Start, wait: float
) -> Submitted:
    workflow_id = start.workflow_id
    answer = Submitted(
        workflow_id=workflow_id,
        workflow_url=runtime.settings.workflow_url(workflow_id),
        status="submitted",
        order_id=start.order_id,
        replaced_order_id=start.replaced_order_id,
    )
    try:
        result = await asyncio.wait_for(handle.result(), timeout=wait) if wait > 0 else None
    except TimeoutError:
        result = None
    except WorkflowFailureError as failure:
        cause = failure.cause
        answer.error = cause.message if isinstance(cause, ApplicationError) else str(cause)
        answer.outcome, answer.status = answer.error, "failed"
        result = None
    if result is not None:
        answer = answer.model_copy(update=result.model_dump(include=set(Submitted.model_fields)))
        answer.status = result.status
    recorded = await _recorded_order(runtime, user, workflow_id)
    if recorded is not None:
        if answer.order_id is None:
            answer.order_id = recorded.id
        if answer.error is not None and recorded.status in ("rejected", "error"):
            answer.status = recorded.status  # the exchange (or a rule) said no, or an outage
    return answer


async def _recorded_order(runtime: Runtime, user: User, workflow_id: str) -> Order | None:
    async with runtime.sessions() as session:
        found: Order | None = (
            await session.scalars(
                select(Order)
                .where(Order.workflow_id == workflow_id, Order.user_id == user.id)
                .order_by(Order.id.desc())
                .limit(1)
            )
        ).first()
        return found
