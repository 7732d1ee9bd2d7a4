"""The paper exchange: simulated fills against real (or simulated) market prices.

State lives in the database (`paper_balances`, `paper_orders`) so it survives restarts and
is shared by every worker. Market orders fill at once at the current price plus slippage;
limit orders rest until the market crosses their price, which is checked lazily (the price
range since the last check) whenever the account is looked at. Stop-loss / take-profit
orders wait the same way, holding no funds (like Bitget plan and Kraken trigger orders);
once triggered they fill as a market order or rest as a limit, if the balance then covers
them (else they end `rejected`). Fees are charged in the asset received, as Binance does
by default."""

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import PaperBalance, PaperOrder
from db.session import SessionFactory
from exchanges.catalog import PAPER_MARKETS
from exchanges.errors import (
    DuplicateOrder,
    InsufficientFunds,
    InvalidOrder,
    NotSupported,
    OrderNotFound,
)
from exchanges.paper_orders import (
    TRIGGER_TYPES,
    check_filters,
    new_order,
    paper_market,
    reached,
    reserved,
    to_exchange_order,
    waiting,
    window_start,
)
from exchanges.paper_orders import now as _now
from exchanges.types import (
    Balance,
    Candle,
    Capabilities,
    ExchangeOrder,
    Market,
    OcoRequest,
    OrderRequest,
    Ticker,
    Trade,
    floor_to_step,
)
from market.source import INTERVAL_SECONDS, PriceSource

__all__ = ["DEFAULT_BALANCES", "PaperExchange", "paper_market", "seed_balances"]

DEFAULT_BALANCES = {"USDT": Decimal("10000")}


async def seed_balances(session: AsyncSession, broker_id: int, balances: dict[str, Decimal]):
    for asset, amount in balances.items():
        session.add(PaperBalance(broker_id=broker_id, asset=asset.upper(), free=amount))


class PaperExchange:
    capabilities = Capabilities(market_buy_by_quote=True, batched_tickers=True, stop_orders=True)

    def __init__(
        self,
        broker_id: int,
        sessions: SessionFactory,
        prices: PriceSource,
        fee_rate: Decimal = Decimal("0.001"),
        slippage: Decimal = Decimal(0),
    ) -> None:
        self.broker_id = broker_id
        self._sessions = sessions
        self._prices = prices
        self._fee_rate = fee_rate
        self._slippage = slippage

    # -- market data -------------------------------------------------------------------

    async def load_markets(self, *, reload: bool = False) -> dict[str, Market]:
        return dict(PAPER_MARKETS)

    async def fetch_ticker(self, symbol: str) -> Ticker:
        paper_market(symbol)
        return Ticker(symbol=symbol, price=await self._prices.price(symbol), time=_now())

    async def fetch_tickers(self, symbols: list[str]) -> dict[str, Ticker]:
        known = [s for s in symbols if s in PAPER_MARKETS]
        prices = await self._prices.prices(known)
        now = _now()
        return {s: Ticker(symbol=s, price=p, time=now) for s, p in prices.items()}

    async def fetch_candles(
        self, symbol: str, interval: str, *, since: datetime | None = None, limit: int = 500
    ) -> list[Candle]:
        paper_market(symbol)
        if interval not in INTERVAL_SECONDS:
            raise InvalidOrder(
                f"unknown interval {interval!r}: use one of {list(INTERVAL_SECONDS)}"
            )
        return await self._prices.candles(symbol, interval, since, limit)

    async def test_connection(self) -> str:
        balances = await self.fetch_balances()
        return f"paper account ready: {len(balances)} assets, prices from {self._prices.mode}"

    # -- account -----------------------------------------------------------------------

    async def fetch_balances(self) -> dict[str, Balance]:
        await self._settle_resting()
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PaperBalance).where(PaperBalance.broker_id == self.broker_id)
            )
            return {
                r.asset: Balance(asset=r.asset, free=r.free, locked=r.locked)
                for r in rows
                if r.free or r.locked
            }

    async def create_order(self, request: OrderRequest) -> ExchangeOrder:
        market = paper_market(request.symbol)
        market_price = await self._prices.price(request.symbol)
        async with self._sessions.begin() as session:
            existing = await self._find(session, client_order_id=request.client_order_id)
            if existing is not None:
                raise DuplicateOrder(f"Duplicate order sent: {request.client_order_id}")
            order = new_order(self.broker_id, request, market)
            if request.type == "market":
                fill_price = self._with_slippage(request.side, market_price, market)
                if order.quantity is None:  # quote-amount market buy
                    assert order.quote_amount is not None
                    order.quantity = floor_to_step(
                        order.quote_amount / fill_price, market.amount_step
                    )
                check_filters(market, order.quantity, fill_price)
                await self._fill(session, order, market, fill_price, locked=False)
            elif request.type == "limit":
                assert order.price is not None and order.quantity is not None
                check_filters(market, order.quantity, order.price)
                await self._lock_funds(session, order, market)
                crosses = (request.side == "buy" and market_price <= order.price) or (
                    request.side == "sell" and market_price >= order.price
                )
                if crosses:  # a marketable limit takes the better market price
                    await self._fill(session, order, market, market_price, locked=True)
            else:
                await self._place_trigger(session, order, market, market_price)
            session.add(order)
            await session.flush()
            return to_exchange_order(order)

    async def _place_trigger(
        self, session: AsyncSession, order: PaperOrder, market: Market, market_price: Decimal
    ) -> None:
        """Checks the balance without holding it (as exchanges refuse a trigger order the
        account could not pay for), then triggers at once if the market is already there."""
        assert order.quantity is not None and order.stop_price is not None
        check_filters(market, order.quantity, order.price or order.stop_price)
        shortfall = await self._shortfall(session, order, market, order.price or order.stop_price)
        if shortfall:
            raise InsufficientFunds(
                f"Account has insufficient balance for requested action. {shortfall}"
            )
        if reached(order, market_price, market_price):
            await self._trigger(session, order, market, market_price)

    async def create_oco(self, request: OcoRequest) -> list[ExchangeOrder]:
        raise NotSupported("the paper exchange does not take OCO orders yet")

    async def cancel_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        await self._settle_resting()
        async with self._sessions.begin() as session:
            order = await self._find(session, exchange_order_id, client_order_id, lock=True)
            if order is None or order.symbol != symbol:
                raise OrderNotFound("Unknown order sent.")
            if order.status != "new":
                raise InvalidOrder(f"order {order.id} is already {order.status}")
            if not waiting(order):  # a waiting trigger order holds nothing
                await self._release(session, order, paper_market(order.symbol))
            order.status = "canceled"
            return to_exchange_order(order)

    async def fetch_order(
        self,
        symbol: str,
        *,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
    ) -> ExchangeOrder:
        await self._settle_resting()
        async with self._sessions() as session:
            order = await self._find(session, exchange_order_id, client_order_id)
            if order is None or order.symbol != symbol:
                raise OrderNotFound("Order does not exist.")
            return to_exchange_order(order)

    async def fetch_open_orders(self, symbol: str | None = None) -> list[ExchangeOrder]:
        await self._settle_resting()
        async with self._sessions() as session:
            query = select(PaperOrder).where(
                PaperOrder.broker_id == self.broker_id, PaperOrder.status == "new"
            )
            if symbol:
                query = query.where(PaperOrder.symbol == symbol)
            return [to_exchange_order(o) for o in await session.scalars(query)]

    async def fetch_closed_orders(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[ExchangeOrder]:
        await self._settle_resting()
        async with self._sessions() as session:
            query = select(PaperOrder).where(
                PaperOrder.broker_id == self.broker_id,
                PaperOrder.symbol == symbol,
                PaperOrder.status != "new",
            )
            if since is not None:
                query = query.where(PaperOrder.created_at >= since)
            rows = await session.scalars(query.order_by(PaperOrder.id.desc()).limit(limit))
            return [to_exchange_order(o) for o in reversed(list(rows))]

    async def fetch_trades(
        self, symbol: str, *, since: datetime | None = None, limit: int = 100
    ) -> list[Trade]:
        """Paper orders fill in one go: one trade per filled order."""
        closed = await self.fetch_closed_orders(symbol, since=since, limit=limit)
        return [
            Trade(
                trade_id=o.exchange_order_id,
                exchange_order_id=o.exchange_order_id,
                symbol=o.symbol,
                side=o.side,
                price=o.average_price,
                quantity=o.filled_quantity,
                fee=o.fee,
                fee_asset=o.fee_asset,
                time=o.created_at or _now(),
            )
            for o in closed
            if o.status == "filled" and o.average_price is not None
        ]

    # -- internals -----------------------------------------------------------------------

    async def _find(
        self,
        session: AsyncSession,
        exchange_order_id: str | None = None,
        client_order_id: str | None = None,
        *,
        lock: bool = False,
    ) -> PaperOrder | None:
        query = select(PaperOrder).where(PaperOrder.broker_id == self.broker_id)
        if exchange_order_id is not None:
            if not exchange_order_id.isdigit():
                return None
            query = query.where(PaperOrder.id == int(exchange_order_id))
        elif client_order_id is not None:
            query = query.where(PaperOrder.client_order_id == client_order_id)
        else:
            raise ValueError("give exchange_order_id or client_order_id")
        if lock:
            query = query.with_for_update()
        return (await session.scalars(query)).first()

    def _with_slippage(self, side: str, price: Decimal, market: Market) -> Decimal:
        factor = 1 + self._slippage if side == "buy" else 1 - self._slippage
        return (price * factor).quantize(market.price_tick, rounding=ROUND_HALF_UP)

    async def _wallet(
        self, session: AsyncSession, assets: Sequence[str]
    ) -> dict[str, PaperBalance]:
        rows = await session.scalars(
            select(PaperBalance)
            .where(PaperBalance.broker_id == self.broker_id, PaperBalance.asset.in_(assets))
            .with_for_update()
        )
        wallet = {r.asset: r for r in rows}
        for asset in assets:
            if asset not in wallet:
                wallet[asset] = PaperBalance(
                    broker_id=self.broker_id, asset=asset, free=Decimal(0), locked=Decimal(0)
                )
                session.add(wallet[asset])
        return wallet

    async def _lock_funds(self, session: AsyncSession, order: PaperOrder, market: Market):
        assert order.quantity is not None and order.price is not None
        asset, amount = reserved(order, market)
        balance = (await self._wallet(session, [asset]))[asset]
        if balance.free < amount:
            raise InsufficientFunds(
                f"Account has insufficient balance for requested action. "
                f"Needs {amount} {asset}, has {balance.free}."
            )
        balance.free -= amount
        balance.locked += amount

    async def _release(self, session: AsyncSession, order: PaperOrder, market: Market) -> None:
        asset, amount = reserved(order, market)
        balance = (await self._wallet(session, [asset]))[asset]
        balance.locked -= amount
        balance.free += amount

    async def _fill(
        self,
        session: AsyncSession,
        order: PaperOrder,
        market: Market,
        price: Decimal,
        *,
        locked: bool,
    ) -> None:
        assert order.quantity is not None
        quantity, cost = order.quantity, order.quantity * price
        wallet = await self._wallet(session, [market.base, market.quote])
        base, quote = wallet[market.base], wallet[market.quote]
        if locked:
            await self._release(session, order, market)
        if order.side == "buy":
            if quote.free < cost:
                raise InsufficientFunds(
                    "Account has insufficient balance for requested action. "
                    f"Needs {cost} {market.quote}, has {quote.free}."
                )
            fee, fee_asset = quantity * self._fee_rate, market.base
            quote.free -= cost
            base.free += quantity - fee
        else:
            if base.free < quantity:
                raise InsufficientFunds(
                    "Account has insufficient balance for requested action. "
                    f"Needs {quantity} {market.base}, has {base.free}."
                )
            fee, fee_asset = cost * self._fee_rate, market.quote
            base.free -= quantity
            quote.free += cost - fee
        order.status = "filled"
        order.filled_quantity = quantity
        order.average_price = price
        order.fee, order.fee_asset = fee, fee_asset

    async def _shortfall(
        self, session: AsyncSession, order: PaperOrder, market: Market, price: Decimal
    ) -> str | None:
        """What the free balance lacks to pay for `order` at `price` (None: it covers it)."""
        assert order.quantity is not None
        asset, needed = (
            (market.quote, order.quantity * price)
            if order.side == "buy"
            else (market.base, order.quantity)
        )
        free = (await self._wallet(session, [asset]))[asset].free
        return None if free >= needed else f"Needs {needed} {asset}, has {free}."

    async def _trigger(
        self, session: AsyncSession, order: PaperOrder, market: Market, price: Decimal
    ) -> None:
        """The market reached the stop at `price`: fill as a market order, or rest as a
        limit (filled at once if marketable). Unpaid for, the order is rejected."""
        order.triggered_at = _now()
        limit = order.price
        fill_price = price if limit is not None else self._with_slippage(order.side, price, market)
        shortfall = await self._shortfall(session, order, market, limit or fill_price)
        if shortfall:
            order.status = "rejected"
            order.reject_reason = f"insufficient balance when triggered at {price}: {shortfall}"
            return
        if limit is None:
            await self._fill(session, order, market, fill_price, locked=False)
            return
        await self._lock_funds(session, order, market)
        if (order.side == "buy" and price <= limit) or (order.side == "sell" and price >= limit):
            await self._fill(session, order, market, price, locked=True)

    async def _settle_resting(self) -> None:
        """Fill resting limit orders the market crossed since they were last checked, and
        trigger the stop-loss / take-profit orders it reached."""
        async with self._sessions() as session:
            resting = list(
                await session.scalars(
                    select(PaperOrder).where(
                        PaperOrder.broker_id == self.broker_id, PaperOrder.status == "new"
                    )
                )
            )
        for candidate in resting:
            # Taken first: a move while the range is read is seen again next time, not lost.
            checked = _now()
            low, high = await self._prices.range_since(candidate.symbol, window_start(candidate))
            if candidate.type in TRIGGER_TYPES:  # its placement minute: the price now only
                current = await self._prices.price(candidate.symbol)
                low, high = min(low, current), max(high, current)
            async with self._sessions.begin() as session:
                order = await self._find(session, str(candidate.id), lock=True)
                if order is None or order.status != "new":
                    continue
                market = paper_market(order.symbol)
                if waiting(order):
                    # Checked after every look at the market, so it moved through the stop
                    # since the last one: it triggered at the stop price.
                    if reached(order, low, high):
                        assert order.stop_price is not None
                        await self._trigger(session, order, market, order.stop_price)
                else:
                    assert order.price is not None
                    crossed = (order.side == "buy" and low <= order.price) or (
                        order.side == "sell" and high >= order.price
                    )
                    if crossed:
                        await self._fill(session, order, market, order.price, locked=True)
                order.checked_at = checked
