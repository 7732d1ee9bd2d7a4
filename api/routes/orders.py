"""Manual trading: validate an order (preview + 15 s confirmation), place it, cancel or edit
a resting order, close a position. Each action is a workflow; the lists stay in
api/routes/history.py (GET /api/orders, GET /api/positions)."""

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, status
from pydantic import BaseModel, Field, model_validator
from temporalio.common import WorkflowIDReusePolicy

from api.decimal_json import DecimalRoute
from api.deps import CurrentUser, Owned, RuntimeDep, TemporalDep, owned
from api.order_preview import (
    Amount,
    MarketInfo,
    OrderBody,
    Preview,
    broker_market,
    market_info,
    preview,
    refused,
)
from api.order_runs import Start, Submitted, Wait, start_and_follow
from api.order_tokens import OrderTerms, OrderTokens, digest, order_tokens
from db.models import Broker, Order, Position, User
from exchanges.symbols import SymbolError, normalize_symbol
from trading.protection import PROTECTIVE_TYPES
from trading.sizing import SizingError, size_given
from workers.runtime import Runtime
from workflows.inputs import OrderIntent, OrderOutcome
from workflows.manual_inputs import (
    CANCEL_ORDER,
    MANUAL_ORDER,
    REPLACE_ORDER,
    CancelInput,
    EditOutcome,
    ReplaceInput,
    cancel_workflow_id,
    close_position_workflow_id,
    manual_order_workflow_id,
    replace_workflow_id,
)

router = APIRouter(prefix="/api", tags=["trading"], route_class=DecimalRoute)
TokensDep = Annotated[OrderTokens, Depends(order_tokens)]
OPEN_STATUSES = ("open", "partially_filled")

# No SessionDep here: these routes call the exchange (the paper exchange writes to the
# database) and Temporal, so they read in short sessions of their own instead of holding
# the database's write turn for the whole request.


class OrderSubmit(OrderBody):
    """An order to place; `confirmation` is the token of `POST /api/orders/validate` (valid
    15 s). Without one (API clients) the order is validated the same way, then placed."""

    confirmation: str | None = Field(default=None, max_length=200)


class OrderEdit(BaseModel):
    """A resting limit order's new price and/or quantity."""

    price: Decimal | None = Amount
    quantity: Decimal | None = Amount

    @model_validator(mode="after")
    def _something(self) -> "OrderEdit":
        if self.price is None and self.quantity is None:
            raise ValueError("give a new price or quantity")
        return self


async def _owned(runtime: Runtime, model: type[Owned], user: User, item_id: int) -> Owned:
    """The user's row (another user's is a 404), read in a short session of its own."""
    async with runtime.sessions() as session:
        return await owned(session, model, item_id, user)


def _terms(body: OrderBody) -> OrderTerms:
    return OrderTerms(**body.model_dump(include=set(OrderTerms.model_fields)))


@router.get("/brokers/{broker_id}/market", response_model=MarketInfo)
async def get_market(
    broker_id: int,
    user: CurrentUser,
    runtime: RuntimeDep,
    symbol: str = Query(max_length=40, examples=["BTC/USDT"]),
) -> MarketInfo:
    """The order form's data: the market's rules, its last price, the free balances."""
    broker = await _owned(runtime, Broker, user, broker_id)
    try:
        symbol = normalize_symbol(symbol)
    except SymbolError as exc:
        raise refused(str(exc)) from None
    return await market_info(runtime, broker, symbol)


@router.post("/orders/validate", response_model=Preview)
async def validate_order(
    body: OrderBody, user: CurrentUser, runtime: RuntimeDep, tokens: TokensDep
) -> Preview:
    broker = await _owned(runtime, Broker, user, body.broker_id)
    result = preview(await market_info(runtime, broker, body.symbol), body)
    result.confirmation, result.expires_at = tokens.issue(user.id, _terms(body))
    result.valid_seconds = int(tokens.window.total_seconds())
    return result


@router.post("/orders", response_model=Submitted, status_code=status.HTTP_202_ACCEPTED)
async def submit_order(
    body: OrderSubmit,
    user: CurrentUser,
    runtime: RuntimeDep,
    temporal: TemporalDep,
    tokens: TokensDep,
    wait: float = Wait,
) -> Submitted:
    broker = await _owned(runtime, Broker, user, body.broker_id)
    terms = _terms(body)
    if body.confirmation:
        tokens.check(body.confirmation, user.id, terms)
        token = body.confirmation
    else:
        preview(await market_info(runtime, broker, body.symbol), body)
        token, _ = tokens.issue(user.id, terms)
    intent = OrderIntent(
        user_id=user.id,
        broker_id=broker.id,
        symbol=body.symbol,
        side=body.side,
        type=body.type,
        source="manual",
        quantity=body.quantity,
        quote_amount=body.quote_amount,
        price=body.price,
    )
    start = Start(
        workflow=MANUAL_ORDER,
        argument=intent,
        workflow_id=manual_order_workflow_id(broker.id, digest(token)),
        result_type=OrderOutcome,
        broker_id=broker.id,
        symbol=body.symbol,
        action=f"{body.side.capitalize()}{body.type.capitalize()}",
        # The same confirmation once more, even after its order finished: that order.
        reuse=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    return await start_and_follow(temporal, runtime, user, start, wait)


def _editable(order: Order) -> None:
    if order.type in PROTECTIVE_TYPES:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"order #{order.id} is a position's {order.type.replace('_', '-')}: edit the"
            " position's stop-loss/take-profit instead",
        )
    if order.status not in OPEN_STATUSES:
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"order #{order.id} is {order.status.replace('_', ' ')}: only open orders change",
        )


@router.post(
    "/orders/{order_id}/cancel", response_model=Submitted, status_code=status.HTTP_202_ACCEPTED
)
async def cancel_order(
    order_id: int, user: CurrentUser, runtime: RuntimeDep, temporal: TemporalDep, wait: float = Wait
) -> Submitted:
    order = await _owned(runtime, Order, user, order_id)
    _editable(order)
    start = Start(
        workflow=CANCEL_ORDER,
        argument=CancelInput(order_id=order.id),
        workflow_id=cancel_workflow_id(order.id),
        result_type=EditOutcome,
        broker_id=order.broker_id,
        symbol=order.symbol,
        action="CancelOrder",
        order_id=order.id,
    )
    return await start_and_follow(temporal, runtime, user, start, wait)


@router.patch("/orders/{order_id}", response_model=Submitted, status_code=status.HTTP_202_ACCEPTED)
async def edit_order(
    order_id: int,
    body: OrderEdit,
    user: CurrentUser,
    runtime: RuntimeDep,
    temporal: TemporalDep,
    wait: float = Wait,
) -> Submitted:
    """Cancel/replace of a resting limit order: the new one gets a new client order id."""
    order = await _owned(runtime, Order, user, order_id)
    _editable(order)
    if order.type != "limit" or order.price is None or order.quantity is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"order #{order.id} is a {order.type} order: not editable"
        )
    broker = await _owned(runtime, Broker, user, order.broker_id)
    market = await broker_market(runtime, broker, order.symbol)
    try:  # refused here already, rather than after the old order was canceled
        size_given(
            market,
            body.price or order.price,
            quantity=body.quantity or order.quantity - order.filled_quantity,
            buy=order.side == "buy",
            limit=True,
        )
    except SizingError as exc:
        raise refused(str(exc)) from None
    start = Start(
        workflow=REPLACE_ORDER,
        argument=ReplaceInput(order_id=order.id, price=body.price, quantity=body.quantity),
        workflow_id=replace_workflow_id(order.id),
        result_type=EditOutcome,
        broker_id=order.broker_id,
        symbol=order.symbol,
        action="ReplaceOrder",
        attach=False,
        replaced_order_id=order.id,
    )
    return await start_and_follow(temporal, runtime, user, start, wait)


@router.post(
    "/positions/{position_id}/close",
    response_model=Submitted,
    status_code=status.HTTP_202_ACCEPTED,
)
async def close_position(
    position_id: int,
    user: CurrentUser,
    runtime: RuntimeDep,
    temporal: TemporalDep,
    wait: float = Wait,
) -> Submitted:
    """A market sell of the position's quantity (the order path rounds it to the lot and
    frees the position's stop-loss/take-profit first)."""
    position = await _owned(runtime, Position, user, position_id)
    if position.status != "open":
        raise HTTPException(status.HTTP_409_CONFLICT, f"position #{position.id} is closed")
    intent = OrderIntent(
        user_id=user.id,
        broker_id=position.broker_id,
        symbol=position.symbol,
        side="sell",
        type="market",
        source="manual",
        quantity=position.quantity,
    )
    start = Start(
        workflow=MANUAL_ORDER,
        argument=intent,
        workflow_id=close_position_workflow_id(position.id),
        result_type=OrderOutcome,
        broker_id=position.broker_id,
        symbol=position.symbol,
        action="ClosePosition",
        # A close that failed may be tried again; one that ran closed the position.
        reuse=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
    )
    return await start_and_follow(temporal, runtime, user, start, wait)
