"""The matching engine behind the fake exchanges: accounts, balances, orders, fills.

Each fake exchange (binance_exchange, bitget_exchange, kraken_exchange) speaks its own API
on top of one Ledger and maps `LedgerError.kind` to its own error codes. Market orders fill
at once at the current price; limit orders lock funds and rest until `set_price` crosses
them; stop-loss / take-profit orders trigger on `set_price` and then fill at their limit
price (or the market). Fees are taken in the received asset, or in the quote asset when
`fee_in_quote` (Kraken's default).

Trigger orders lock their funds while they wait when `triggers_reserve` (Binance), and hold
nothing until triggered otherwise (Bitget plan orders, Kraken stop-loss / take-profit), so
a position can carry a stop-loss and a take-profit for its whole quantity. Those are only
checked against the free balance when placed; if it no longer covers them once triggered,
they end `canceled` with `reject_reason` set (Bitget shows the plan as `fail_execute`,
Kraken as canceled for "Insufficient funds").

`fill_partially` fills part of a resting order, as a counterparty taking part of it would:
the order stays `open` with its cumulative filled quantity, cost and fee and one trade per
fill, and each fake reports that as its own API does (Binance PARTIALLY_FILLED, Bitget
`partially_filled`, Kraken `open` with `vol_exec`)."""

import itertools
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

ErrorKind = Literal[
    "insufficient_funds",
    "duplicate_client_id",
    "unknown_symbol",
    "lot_size",
    "tick_size",
    "min_notional",
    "min_qty",
    "not_found",
    "bad_request",
]


PLAIN_DECIMAL = re.compile(r"^[0-9]+(\.[0-9]+)?$")


def plain_decimal(value: object) -> Decimal | None:
    """A number as exchanges accept it: a string of digits with an optional fraction (no
    exponent, sign or float). None for anything else."""
    if not isinstance(value, str) or not PLAIN_DECIMAL.match(value):
        return None
    return Decimal(value)


class LedgerError(Exception):
    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class FakeMarket:
    symbol: str  # unified, BTC/USDT
    base: str
    quote: str
    amount_step: Decimal
    price_tick: Decimal
    min_qty: Decimal
    min_notional: Decimal


def _market(symbol: str, step: str, tick: str, min_notional: str) -> FakeMarket:
    base, quote = symbol.split("/")
    return FakeMarket(
        symbol, base, quote, Decimal(step), Decimal(tick), Decimal(step), Decimal(min_notional)
    )


DEFAULT_MARKETS = [
    _market("BTC/USDT", "0.00001", "0.01", "5"),
    _market("ETH/USDT", "0.0001", "0.01", "5"),
    _market("SOL/USDT", "0.001", "0.01", "5"),
    _market("ETH/BTC", "0.0001", "0.00001", "0.0001"),
]

DEFAULT_PRICES = {
    "BTC/USDT": Decimal("50000"),
    "ETH/USDT": Decimal("2500"),
    "SOL/USDT": Decimal("150"),
    "ETH/BTC": Decimal("0.05"),
}

OrderType = Literal["market", "limit", "stop_loss", "take_profit"]
Status = Literal["open", "filled", "canceled"]


@dataclass
class FakeTrade:
    trade_id: int
    order_id: str
    symbol: str
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    fee_asset: str
    time_ms: int


@dataclass
class FakeOrder:
    order_id: str
    client_id: str | None
    symbol: str
    side: Literal["buy", "sell"]
    type: OrderType
    status: Status
    quantity: Decimal | None  # base; None for a market buy sized in quote
    quote_amount: Decimal | None
    price: Decimal | None  # limit price (also of a triggered stop)
    stop_price: Decimal | None
    created_ms: int
    updated_ms: int
    filled: Decimal = Decimal(0)
    cost: Decimal = Decimal(0)  # quote spent or received
    fee: Decimal = Decimal(0)
    fee_asset: str | None = None
    triggered: bool = False
    # What the order holds on the account now (asset, amount); released exactly once.
    held: tuple[str, Decimal] | None = None
    # Why a triggered order could not execute (it is then canceled).
    reject_reason: str | None = None
    trades: list[FakeTrade] = field(default_factory=list)

    @property
    def average_price(self) -> Decimal | None:
        return self.cost / self.filled if self.filled else None


@dataclass
class Account:
    api_key: str
    api_secret: str
    passphrase: str
    free: dict[str, Decimal] = field(default_factory=dict)
    locked: dict[str, Decimal] = field(default_factory=dict)
    orders: dict[str, FakeOrder] = field(default_factory=dict)

    def balance(self, asset: str) -> Decimal:
        return self.free.get(asset, Decimal(0))


def _now_ms() -> int:
    return int(time.time() * 1000)


class Ledger:
    def __init__(
        self,
        markets: list[FakeMarket] | None = None,
        *,
        fee_rate: Decimal = Decimal("0.001"),
        fee_in_quote: bool = False,
        # Kraken's fake passes txid strings; the others count up from 1000001.
        order_ids: Iterator[int | str] | None = None,
        client_ids_reusable: bool = False,
        triggers_reserve: bool = True,
    ) -> None:
        # Binance and Kraken only refuse a client id used by an *open* order: once filled,
        # the same id is accepted again (so a blind retry would trade twice).
        self.client_ids_reusable = client_ids_reusable
        self.triggers_reserve = triggers_reserve
        self.markets = {m.symbol: m for m in (markets or DEFAULT_MARKETS)}
        self.prices = {s: DEFAULT_PRICES.get(s, Decimal(1)) for s in self.markets}
        self.accounts: dict[str, Account] = {}
        self.fee_rate = fee_rate
        self.fee_in_quote = fee_in_quote
        self._ids: Iterator[int | str] = order_ids or itertools.count(1_000_001)
        self._trade_ids = itertools.count(1)

    # -- test controls -----------------------------------------------------------------

    def add_account(
        self, balances: dict[str, str | Decimal] | None = None, *, secret: str | None = None
    ) -> Account:
        account = Account(
            api_key=secrets.token_hex(16),
            api_secret=secret or secrets.token_hex(24),
            passphrase=secrets.token_hex(6),
            free={a: Decimal(v) for a, v in (balances or {"USDT": "10000"}).items()},
        )
        self.accounts[account.api_key] = account
        return account

    def set_price(self, symbol: str, price: str | Decimal) -> None:
        self.prices[symbol] = Decimal(price)
        for account in self.accounts.values():
            for order in list(account.orders.values()):
                if order.symbol == symbol and order.status == "open":
                    self._maybe_fill_resting(account, order)

    # -- exchange operations -----------------------------------------------------------

    def market(self, symbol: str) -> FakeMarket:
        market = self.markets.get(symbol)
        if market is None:
            raise LedgerError("unknown_symbol", f"unknown symbol {symbol}")
        return market

    def place(
        self,
        account: Account,
        symbol: str,
        side: Literal["buy", "sell"],
        type: OrderType,
        *,
        quantity: Decimal | None = None,
        quote_amount: Decimal | None = None,
        price: Decimal | None = None,
        stop_price: Decimal | None = None,
        client_id: str | None = None,
    ) -> FakeOrder:
        market = self.market(symbol)
        if client_id and any(
            o.client_id == client_id and (o.status == "open" or not self.client_ids_reusable)
            for o in account.orders.values()
        ):
            raise LedgerError("duplicate_client_id", f"duplicate client order id {client_id}")
        last = self.prices[symbol]
        if quantity is None and not (type == "market" and side == "buy" and quote_amount):
            raise LedgerError("bad_request", "quantity is required")
        if quantity is not None:
            if quantity % market.amount_step != 0:
                raise LedgerError("lot_size", f"quantity {quantity} is not a multiple of the step")
            if quantity < market.min_qty:
                raise LedgerError("min_qty", f"quantity {quantity} below minimum {market.min_qty}")
        for value in (price, stop_price):
            if value is not None and value % market.price_tick != 0:
                raise LedgerError("tick_size", f"price {value} is not a multiple of the tick")
        if type != "market" and type != "limit" and stop_price is None:
            raise LedgerError("bad_request", "stop price is required")
        if type == "limit" and price is None:
            raise LedgerError("bad_request", "price is required for a limit order")
        notional = quote_amount if quantity is None else quantity * (price or last)
        assert notional is not None
        if notional < market.min_notional:
            raise LedgerError("min_notional", f"order value {notional} below {market.min_notional}")
        now = _now_ms()
        order = FakeOrder(
            order_id=str(next(self._ids)),
            client_id=client_id,
            symbol=symbol,
            side=side,
            type=type,
            status="open",
            quantity=quantity,
            quote_amount=quote_amount,
            price=price,
            stop_price=stop_price,
            created_ms=now,
            updated_ms=now,
        )
        if type == "market":
            self._check_funds(account, market, order, last)
            self._fill(account, market, order, last)
        elif type == "limit" or self.triggers_reserve:
            # Resting orders lock what they may spend.
            if not self._lock(account, market, order, price or stop_price or last):
                raise LedgerError("insufficient_funds", "insufficient balance")
        else:  # a trigger order off the book: checked, not held
            self._check_funds(account, market, order, price or stop_price or last)
        account.orders[order.order_id] = order
        if order.status == "open":
            self._maybe_fill_resting(account, order, taker=True)
        return order

    def cancel(self, account: Account, order: FakeOrder) -> FakeOrder:
        if order.status != "open":
            raise LedgerError("not_found", "order is not open")
        market = self.market(order.symbol)
        self._unlock(account, market, order)
        order.status = "canceled"
        order.updated_ms = _now_ms()
        return order

    def fill_partially(
        self,
        account: Account,
        order: FakeOrder,
        quantity: str | Decimal,
        price: str | Decimal | None = None,
    ) -> FakeTrade:
        """Fills `quantity` more of a resting order at `price` (by default its limit: the
        maker's price). Fees as for a whole fill; only the filled part's locked funds are
        released. Filling all that is left fills the order."""
        quantity = Decimal(quantity)
        if order.status != "open" or order.quantity is None or order.price is None:
            raise LedgerError("not_found", "only a resting order with a limit fills partially")
        if order.type in ("stop_loss", "take_profit") and not order.triggered:
            raise LedgerError("bad_request", "the order has not triggered yet")
        remaining = order.quantity - order.filled
        if not 0 < quantity <= remaining:
            raise LedgerError("bad_request", f"{quantity} is not part of the {remaining} left")
        market = self.market(order.symbol)
        fill_price = order.price if price is None else Decimal(price)
        if quantity == remaining:
            self._unlock(account, market, order)
            self._fill(account, market, order, fill_price)
        else:
            self._release(account, order, quantity)
            self._trade(account, market, order, quantity, fill_price)
        return order.trades[-1]

    def find(
        self, account: Account, *, order_id: str | None = None, client_id: str | None = None
    ) -> FakeOrder:
        for order in account.orders.values():
            if (order_id and order.order_id == order_id) or (
                client_id and order.client_id == client_id
            ):
                return order
        raise LedgerError("not_found", "order does not exist")

    # -- internals ---------------------------------------------------------------------

    @staticmethod
    def _spend(market: FakeMarket, order: FakeOrder, price: Decimal) -> tuple[str, Decimal]:
        if order.side == "sell":
            return market.base, order.quantity or Decimal(0)
        if order.quantity is None:
            return market.quote, order.quote_amount or Decimal(0)
        return market.quote, order.quantity * price

    def _check_funds(
        self, account: Account, market: FakeMarket, order: FakeOrder, price: Decimal
    ) -> None:
        asset, spend = self._spend(market, order, price)
        if account.balance(asset) < spend:
            raise LedgerError("insufficient_funds", "insufficient balance")

    def _lock(self, account: Account, market: FakeMarket, order: FakeOrder, price: Decimal) -> bool:
        """Holds what `order` may spend at `price`; False (nothing held) if not free."""
        asset, spend = self._spend(market, order, price)
        if account.balance(asset) < spend:
            return False
        account.free[asset] = account.balance(asset) - spend
        account.locked[asset] = account.locked.get(asset, Decimal(0)) + spend
        order.held = (asset, spend)
        return True

    def _unlock(self, account: Account, market: FakeMarket, order: FakeOrder) -> None:
        if order.held is None:  # a waiting trigger order, or already released
            return
        asset, spend = order.held
        account.locked[asset] = account.locked.get(asset, Decimal(0)) - spend
        account.free[asset] = account.balance(asset) + spend
        order.held = None

    @staticmethod
    def _release(account: Account, order: FakeOrder, quantity: Decimal) -> None:
        """Releases what `quantity` of the order's unfilled rest was holding (the hold is
        that rest times one price, so the share is exact). Called before the fill counts."""
        if order.held is None or order.quantity is None:
            return
        asset, spend = order.held
        part = spend * quantity / (order.quantity - order.filled)
        account.locked[asset] = account.locked.get(asset, Decimal(0)) - part
        account.free[asset] = account.balance(asset) + part
        order.held = (asset, spend - part)

    def _execute_trigger(self, account: Account, market: FakeMarket, order: FakeOrder) -> bool:
        """An unreserved trigger order reached its stop: it needs the funds now, held at its
        limit or checked at the market. False: they are missing, and the order is over."""
        if order.price is not None:
            funded = self._lock(account, market, order, order.price)
        else:
            asset, spend = self._spend(market, order, self.prices[order.symbol])
            funded = account.balance(asset) >= spend
        if funded:
            return True
        order.status, order.reject_reason = "canceled", "insufficient balance"
        order.updated_ms = _now_ms()
        return False

    def _maybe_fill_resting(self, account: Account, order: FakeOrder, taker: bool = False) -> None:
        """A resting order fills at its limit price once the market crosses it; a limit
        that is marketable when placed takes the better market price, as on an exchange."""
        last = self.prices[order.symbol]
        market = self.market(order.symbol)
        if order.type in ("stop_loss", "take_profit") and not order.triggered:
            assert order.stop_price is not None
            # A sell stop-loss / buy take-profit triggers on the way down, and vice versa.
            falling = (order.type == "stop_loss") == (order.side == "sell")
            reached = last <= order.stop_price if falling else last >= order.stop_price
            if not reached:
                return
            if not self.triggers_reserve and not self._execute_trigger(account, market, order):
                return
            order.triggered = True
        limit = order.price
        if limit is not None:
            crossed = last <= limit if order.side == "buy" else last >= limit
            if not crossed:
                return
        self._unlock(account, market, order)
        maker = limit is not None and not (taker and order.type == "limit")
        self._fill(account, market, order, limit if maker and limit is not None else last)

    def _fill(self, account: Account, market: FakeMarket, order: FakeOrder, price: Decimal) -> None:
        """Fills what is left of the order at `price`."""
        if order.quantity is None:  # market buy by quote amount
            assert order.quote_amount is not None
            quantity = (order.quote_amount / price // market.amount_step) * market.amount_step
        else:
            quantity = order.quantity - order.filled
        self._trade(account, market, order, quantity, price)
        order.status = "filled"

    def _trade(
        self,
        account: Account,
        market: FakeMarket,
        order: FakeOrder,
        quantity: Decimal,
        price: Decimal,
    ) -> None:
        """One fill of `quantity` at `price`: balances move, the order's totals grow."""
        cost = quantity * price
        if order.side == "buy":
            account.free[market.quote] = account.balance(market.quote) - cost
            received, got = market.base, quantity
        else:
            account.free[market.base] = account.balance(market.base) - quantity
            received, got = market.quote, cost
        fee_asset = market.quote if self.fee_in_quote else received
        fee = (cost if fee_asset == market.quote else got) * self.fee_rate
        account.free[received] = account.balance(received) + got
        account.free[fee_asset] = account.balance(fee_asset) - fee
        now = _now_ms()
        trade = FakeTrade(
            next(self._trade_ids),
            order.order_id,
            order.symbol,
            order.side,
            price,
            quantity,
            fee,
            fee_asset,
            now,
        )
        order.trades.append(trade)
        order.filled += quantity
        order.cost += cost
        order.fee += fee
        order.fee_asset = fee_asset
        order.updated_ms = now
