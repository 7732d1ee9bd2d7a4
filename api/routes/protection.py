"""PATCH /api/positions/{id}/protection: the dashboard's stop-loss / take-profit edit. It goes
through the position's guard workflow like a MAJ webhook, so the two never interleave."""

import asyncio
import uuid
from decimal import Decimal

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import JSONResponse
from loguru import logger
from pydantic import BaseModel
from temporalio.service import RPCError

from activities.guard_calls import call_guard
from api.decimal_json import DecimalRoute
from api.deps import CurrentUser, RuntimeDep, TemporalDep, owned
from api.order_preview import Amount
from api.temporal_link import TemporalUnavailable
from db.models import Position
from trading.protection import price_problem
from workflows.inputs import ProtectOutcome, ProtectRequest

router = APIRouter(prefix="/api", tags=["positions"], route_class=DecimalRoute)
# The guard may wait on a slow exchange; past this the request answers 202 and the update
# keeps running in the guard.
GUARD_WAIT = 20.0
# Calls still running after their request answered 202 (a task nobody references may be
# garbage-collected mid-flight).
_unanswered: set[asyncio.Task[ProtectOutcome]] = set()


class ProtectionIn(BaseModel):
    """Both prices; null removes that order."""

    # Bounded like order amounts: an absurd price is a 422 here, not a column overflow
    # in the guard.
    stop_loss: Decimal | None = Amount
    take_profit: Decimal | None = Amount


@router.patch(
    "/positions/{position_id}/protection",
    response_model=ProtectOutcome,
    responses={status.HTTP_202_ACCEPTED: {"model": ProtectOutcome}},
)
async def update_protection(
    position_id: int,
    body: ProtectionIn,
    user: CurrentUser,
    runtime: RuntimeDep,
    temporal: TemporalDep,
) -> ProtectOutcome | JSONResponse:
    # A read session only: the guard's own writes must not wait behind this request.
    async with runtime.sessions() as session:
        position = await owned(session, Position, position_id, user)
    if position.status != "open":
        raise HTTPException(409, "the position is closed")
    problem = price_problem(body.stop_loss, body.take_profit, None)
    if problem is not None:
        raise HTTPException(422, problem)
    request_id = f"dashboard-{uuid.uuid4().hex}"
    try:
        client = temporal.client
    except TemporalUnavailable as exc:
        raise HTTPException(503, f"the update could not be sent: {exc}") from exc
    call = asyncio.ensure_future(
        call_guard(
            client,
            runtime.settings.task_queue,
            position_id,
            "protect",
            ProtectRequest(
                request_id=request_id,
                stop_loss=body.stop_loss,
                take_profit=body.take_profit,
                replace_both=True,
                source="manual",
            ),
            request_id,
            ProtectOutcome,
        )
    )
    try:
        # Shielded: cancelling the call could withdraw an update the guard has not accepted
        # yet; only this request stops waiting.
        outcome = await asyncio.wait_for(asyncio.shield(call), timeout=GUARD_WAIT)
    except TimeoutError:
        _unanswered.add(call)
        call.add_done_callback(_finished)
        submitted = ProtectOutcome(
            status="submitted",
            message="the update is being applied: the position page shows the result",
            position_id=position_id,
        )
        return JSONResponse(submitted.model_dump(mode="json"), status.HTTP_202_ACCEPTED)
    except RPCError as exc:
        raise HTTPException(503, f"the update could not be sent: {exc}") from exc
    if outcome.status == "rejected":
        raise HTTPException(422, outcome.message)
    return outcome.model_copy(update={"position_id": position_id})


def _finished(call: asyncio.Task[ProtectOutcome]) -> None:
    _unanswered.discard(call)
    if not call.cancelled() and call.exception() is not None:
        logger.warning("a stop-loss / take-profit update failed: {}", call.exception())
