"""PATCH /api/positions/{id}/protection: the dashboard's stop-loss / take-profit edit. It goes
through the position's guard workflow like a MAJ webhook, so the two never interleave."""

import uuid
from decimal import Decimal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel
from temporalio.service import RPCError

from activities.guard_calls import call_guard
from api.deps import CurrentUser, RuntimeDep, TemporalDep, owned
from api.temporal_link import TemporalUnavailable
from db.models import Position
from trading.protection import price_problem
from workflows.inputs import ProtectOutcome, ProtectRequest

router = APIRouter(prefix="/api", tags=["positions"])


class ProtectionIn(BaseModel):
    """Both prices; null removes that order."""

    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None


@router.patch("/positions/{position_id}/protection", response_model=ProtectOutcome)
async def update_protection(
    position_id: int,
    body: ProtectionIn,
    user: CurrentUser,
    runtime: RuntimeDep,
    temporal: TemporalDep,
) -> ProtectOutcome:
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
        outcome = await call_guard(
            temporal.client,
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
    except (TemporalUnavailable, RPCError) as exc:
        raise HTTPException(503, f"the update could not be sent: {exc}") from exc
    if outcome.status == "rejected":
        raise HTTPException(422, outcome.message)
    return outcome.model_copy(update={"position_id": position_id})
