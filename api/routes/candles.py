"""GET /api/candles: the stored closed candles of the market feed, newest last."""

from datetime import datetime
from decimal import Decimal

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from api.deps import CurrentUser, SessionDep
from exchanges.symbols import SymbolError, normalize_symbol
from market.candle_store import Timeframe, latest

router = APIRouter(prefix="/api", tags=["market"])


class CandleOut(BaseModel):
    open_time: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    source: str


class CandlesOut(BaseModel):
    symbol: str
    timeframe: str
    items: list[CandleOut]


@router.get("/candles", response_model=CandlesOut)
async def list_candles(
    user: CurrentUser,
    session: SessionDep,
    symbol: str = Query(max_length=40, examples=["BTCUSDT"]),
    timeframe: Timeframe = "1m",
    limit: int = Query(default=240, ge=1, le=1000),
) -> CandlesOut:
    try:
        unified = normalize_symbol(symbol)
    except SymbolError as exc:
        raise HTTPException(422, str(exc)) from exc
    rows = await latest(session, unified, timeframe, limit)
    return CandlesOut(
        symbol=unified,
        timeframe=timeframe,
        items=[CandleOut.model_validate(row, from_attributes=True) for row in rows],
    )
