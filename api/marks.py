"""Mark prices of open positions: each at its own broker's exchange price (a Kraken position
at Kraken's, a paper one at the paper market's), one batched ticker call per broker."""

import asyncio
from collections import defaultdict
from decimal import Decimal

from loguru import logger
from sqlalchemy import select

from db.models import Broker
from workers.runtime import Runtime

# (broker id, symbol)
Holding = tuple[int, str]


async def mark_prices(runtime: Runtime, holdings: set[Holding]) -> dict[Holding, Decimal]:
    """Prices it could get; a broker whose exchange does not answer is left out (its
    positions show no unrealized P&L rather than hide)."""
    if not holdings:
        return {}
    by_broker: dict[int, set[str]] = defaultdict(set)
    for broker_id, symbol in holdings:
        by_broker[broker_id].add(symbol)
    async with runtime.sessions() as session:
        brokers = list(await session.scalars(select(Broker).where(Broker.id.in_(by_broker))))
    paper = {b.id for b in brokers if b.exchange == "paper"}
    native = [b for b in brokers if b.exchange != "paper"]
    paper_symbols = sorted({s for b in paper for s in by_broker[b]})

    async def paper_prices() -> dict[str, Decimal]:
        # Every paper broker trades on the same market: one lookup for all of them.
        return await runtime.prices.prices(paper_symbols) if paper_symbols else {}

    async def exchange_prices(broker: Broker) -> dict[str, Decimal]:
        tickers = await runtime.connectors.connector(broker).fetch_tickers(
            sorted(by_broker[broker.id])
        )
        return {symbol: ticker.price for symbol, ticker in tickers.items()}

    results = await asyncio.gather(
        paper_prices(), *(exchange_prices(b) for b in native), return_exceptions=True
    )
    marks: dict[Holding, Decimal] = {}
    for owners, result in zip([sorted(paper), *[[b.id] for b in native]], results, strict=True):
        if isinstance(result, BaseException):
            logger.warning("no mark prices for brokers {}: {}", owners, result)
            continue
        for broker_id in owners:
            for symbol in by_broker[broker_id]:
                if symbol in result:
                    marks[(broker_id, symbol)] = result[symbol]
    return marks
