"""A broker's symbol catalog in the database: what its exchange lists, with the filters
used to validate and round orders and for the dashboard's symbol search."""

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import MarketRow
from exchanges.types import Market

FILTER_FIELDS = ("exchange_symbol", "base", "quote", "amount_step", "price_tick")
LIMIT_FIELDS = ("min_qty", "min_notional")


def as_market(row: MarketRow) -> Market:
    return Market(
        symbol=row.symbol,
        **{name: getattr(row, name) for name in (*FILTER_FIELDS, *LIMIT_FIELDS)},
    )


async def catalog_size(session: AsyncSession, broker_id: int) -> int:
    count = await session.scalar(
        select(func.count()).select_from(MarketRow).where(MarketRow.broker_id == broker_id)
    )
    return int(count or 0)


async def find_market(session: AsyncSession, broker_id: int, symbol: str) -> MarketRow | None:
    return (
        await session.scalars(
            select(MarketRow).where(MarketRow.broker_id == broker_id, MarketRow.symbol == symbol)
        )
    ).first()


async def store_markets(
    session: AsyncSession, broker_id: int, markets: Sequence[Market], synced_at: datetime
) -> int:
    """Inserts or refreshes `markets`; returns how many were new."""
    symbols = [m.symbol for m in markets]
    existing = {
        row.symbol: row
        for row in await session.scalars(
            select(MarketRow).where(MarketRow.broker_id == broker_id, MarketRow.symbol.in_(symbols))
        )
    }
    added = 0
    for market in markets:
        values = {name: getattr(market, name) for name in (*FILTER_FIELDS, *LIMIT_FIELDS)}
        values["exchange_symbol"] = market.exchange_symbol or market.symbol.replace("/", "")
        row = existing.get(market.symbol)
        if row is None:
            session.add(
                MarketRow(
                    broker_id=broker_id,
                    symbol=market.symbol,
                    active=True,
                    synced_at=synced_at,
                    **values,
                )
            )
            added += 1
        else:
            for name, value in values.items():
                setattr(row, name, value)
            row.active, row.synced_at = True, synced_at
    return added


async def mark_delisted(session: AsyncSession, broker_id: int, synced_before: datetime) -> int:
    """Symbols the latest sync did not list any more; returns how many."""
    result = await session.execute(
        update(MarketRow)
        .where(
            MarketRow.broker_id == broker_id,
            MarketRow.active.is_(True),
            MarketRow.synced_at < synced_before,
        )
        .values(active=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
