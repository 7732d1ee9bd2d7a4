"""/api/brokers: the user's exchange accounts."""

import time
from decimal import Decimal

from fastapi import APIRouter, HTTPException, Request, status
from loguru import logger
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from api.brokers_service import (
    BrokerCreate,
    BrokerOut,
    BrokerUpdate,
    broker_out,
    encrypt_credentials,
    new_webhook_token,
)
from api.decimal_json import DecimalRoute
from api.deps import CurrentUser, RuntimeDep, SessionDep, TemporalDep, owned
from db.events import emit
from db.models import Broker
from exchanges.errors import ExchangeError
from exchanges.paper import DEFAULT_BALANCES, seed_balances
from workers.schedules import delete_reconcile_schedule, ensure_reconcile_schedule

router = APIRouter(prefix="/api/brokers", tags=["brokers"], route_class=DecimalRoute)


class BrokerList(BaseModel):
    items: list[BrokerOut]


class BalanceOut(BaseModel):
    asset: str
    free: Decimal
    locked: Decimal
    total: Decimal
    price_usdt: Decimal | None
    value_usdt: Decimal | None


class Balances(BaseModel):
    broker_id: int
    items: list[BalanceOut]
    total_usdt: Decimal


async def owned_broker(user: CurrentUser, session: SessionDep, broker_id: int) -> Broker:
    return await owned(session, Broker, broker_id, user)


def _name_taken(name: str) -> HTTPException:
    return HTTPException(status.HTTP_409_CONFLICT, f"you already have a broker named {name!r}")


@router.get("", response_model=BrokerList)
async def list_brokers(
    request: Request, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> BrokerList:
    rows = await session.scalars(
        select(Broker).where(Broker.user_id == user.id).order_by(Broker.id)
    )
    return BrokerList(items=[broker_out(b, runtime.settings, runtime.vault, request) for b in rows])


@router.post("", response_model=BrokerOut, status_code=status.HTTP_201_CREATED)
async def create_broker(
    body: BrokerCreate,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    temporal: TemporalDep,
) -> BrokerOut:
    token_hash, token_encrypted = new_webhook_token(runtime.vault)
    broker = Broker(
        user_id=user.id,
        name=body.name.strip(),
        exchange=body.exchange,
        trading_mode=body.trading_mode,
        base_url=body.base_url or None,
        credentials_encrypted=encrypt_credentials(runtime.vault, body.credentials),
        webhook_token_hash=token_hash,
        webhook_token_encrypted=token_encrypted,
        paper_fee_rate=body.fee_rate,
        paper_slippage=body.slippage,
    )
    session.add(broker)
    try:
        await session.flush()
    except IntegrityError:
        raise _name_taken(body.name) from None
    if broker.exchange == "paper":
        await seed_balances(session, broker.id, body.balances or DEFAULT_BALANCES)
    await emit(session, user.id, "broker", broker.id)
    await session.commit()
    await _keep_reconciling(temporal, runtime, broker)
    return broker_out(broker, runtime.settings, runtime.vault, request)


@router.get("/{broker_id}", response_model=BrokerOut)
async def get_broker(
    broker_id: int, request: Request, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> BrokerOut:
    broker = await owned_broker(user, session, broker_id)
    return broker_out(broker, runtime.settings, runtime.vault, request)


@router.patch("/{broker_id}", response_model=BrokerOut)
async def update_broker(
    broker_id: int,
    body: BrokerUpdate,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    runtime: RuntimeDep,
    temporal: TemporalDep,
) -> BrokerOut:
    broker = await owned_broker(user, session, broker_id)
    if body.name is not None:
        broker.name = body.name.strip()
    if body.trading_mode is not None:
        broker.trading_mode = body.trading_mode
    if "base_url" in body.model_fields_set:
        broker.base_url = body.base_url or None
    if body.credentials is not None:
        if broker.exchange == "bitget" and not body.credentials.passphrase:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_ENTITY, "bitget needs credentials.passphrase"
            )
        broker.credentials_encrypted = encrypt_credentials(runtime.vault, body.credentials)
    if body.fee_rate is not None:
        broker.paper_fee_rate = body.fee_rate
    if body.slippage is not None:
        broker.paper_slippage = body.slippage
    try:
        await session.flush()
    except IntegrityError:
        raise _name_taken(body.name or "") from None
    await emit(session, user.id, "broker", broker.id)
    await session.commit()
    if body.trading_mode is not None:
        await _keep_reconciling(temporal, runtime, broker)
    return broker_out(broker, runtime.settings, runtime.vault, request)


@router.delete("/{broker_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_broker(
    broker_id: int, user: CurrentUser, session: SessionDep, temporal: TemporalDep
) -> None:
    broker = await owned_broker(user, session, broker_id)
    await session.delete(broker)
    await emit(session, user.id, "broker", broker_id)
    await session.commit()
    try:
        await delete_reconcile_schedule(temporal.client, broker_id)
    except Exception as exc:  # a leftover schedule finds no broker and does nothing
        logger.warning("broker {}: reconciliation schedule not deleted ({})", broker_id, exc)


async def _keep_reconciling(temporal: TemporalDep, runtime: RuntimeDep, broker: Broker) -> None:
    """Creates or updates the broker's reconciliation schedule (paused while trading is
    off). Temporal being down must not fail the broker change: the worker repairs missing
    schedules when it starts."""
    try:
        await ensure_reconcile_schedule(
            temporal.client, broker, runtime.settings.task_queue, runtime.settings.reconcile_every
        )
    except Exception as exc:  # reported, repaired later
        logger.warning("broker {}: reconciliation schedule not updated ({})", broker.id, exc)


@router.post("/{broker_id}/webhook-token", response_model=BrokerOut)
async def rotate_webhook_token(
    broker_id: int, request: Request, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> BrokerOut:
    broker = await owned_broker(user, session, broker_id)
    broker.webhook_token_hash, broker.webhook_token_encrypted = new_webhook_token(runtime.vault)
    await emit(session, user.id, "broker", broker.id)
    await session.commit()
    return broker_out(broker, runtime.settings, runtime.vault, request)


class ConnectionTest(BaseModel):
    ok: bool
    message: str
    latency_ms: int


@router.post("/{broker_id}/test", response_model=ConnectionTest)
async def test_connection(broker_id: int, user: CurrentUser, runtime: RuntimeDep) -> ConnectionTest:
    """A signed read with the broker's credentials; the exchange's refusal is the answer."""
    async with runtime.sessions() as session:
        broker = await owned_broker(user, session, broker_id)
    started = time.perf_counter()
    try:
        message = await runtime.connectors.connector(broker).test_connection()
        ok = True
    except ExchangeError as exc:
        message, ok = exc.message, False
    latency = int((time.perf_counter() - started) * 1000)
    return ConnectionTest(ok=ok, message=message, latency_ms=latency)


@router.get("/{broker_id}/balances", response_model=Balances)
async def broker_balances(
    broker_id: int, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> Balances:
    broker = await owned_broker(user, session, broker_id)
    try:
        connector = runtime.connectors.connector(broker)
        balances = await connector.fetch_balances()
        # Valued at the broker's own exchange prices (pairs it does not list stay unvalued).
        symbols = [f"{a}/USDT" for a in balances if a not in ("USDT",)]
        tickers = await connector.fetch_tickers(symbols) if symbols else {}
        prices = {symbol: ticker.price for symbol, ticker in tickers.items()}
    except ExchangeError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, exc.message) from exc
    items = []
    for asset, balance in sorted(balances.items()):
        price = Decimal(1) if asset == "USDT" else prices.get(f"{asset}/USDT")
        items.append(
            BalanceOut(
                asset=asset,
                free=balance.free,
                locked=balance.locked,
                total=balance.total,
                price_usdt=price,
                value_usdt=balance.total * price if price is not None else None,
            )
        )
    total = sum((i.value_usdt for i in items if i.value_usdt is not None), Decimal(0))
    return Balances(broker_id=broker.id, items=items, total_usdt=total)
