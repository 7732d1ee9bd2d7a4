"""One interface over the paper exchange and the fake Binance, Bitget and Kraken servers,
so the webhook tests run unchanged against every exchange Aristobot trades on."""

import secrets
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import select

from db.models import PaperOrder
from db.session import SessionFactory
from tests.fakes.binance_exchange import FakeBinance
from tests.fakes.binance_market import MarketState
from tests.fakes.faults import Faults
from tests.fakes.ledger import Account, FakeOrder, Ledger

EXCHANGES = ("paper", "binance", "bitget", "kraken")
TRIGGER_TYPES = ("stop_loss", "take_profit")
# (type, side, trigger price, quantity) of a stop-loss / take-profit waiting on the exchange.
ProtectiveOrder = tuple[str, str, Decimal, Decimal | None]


class FakeExchange(Protocol):
    name: str
    ledger: Ledger
    faults: Faults

    def add_account(self, balances: dict[str, str] | None = None) -> Account: ...

    def set_price(self, symbol: str, price: str) -> None: ...


class Venue:
    """Where a test's broker trades: `create_broker` funds an account there and registers
    it through the API, as a user would."""

    name: str
    # Kraken charges fees in the quote asset; the others in the asset received.
    fee_in_quote = False

    def set_price(self, symbol: str, price: str) -> None:
        raise NotImplementedError

    async def create_broker(
        self, user: Any, balances: dict[str, str], **fields: Any
    ) -> dict[str, Any]:
        raise NotImplementedError

    def exchange_orders(self, broker: dict[str, Any]) -> list[FakeOrder] | None:
        """The orders the exchange itself holds (None for paper: see paper_orders)."""
        return None

    async def open_protective_orders(self, broker: dict[str, Any]) -> list[ProtectiveOrder]:
        """The broker's stop-loss / take-profit orders the exchange holds, not triggered yet
        (sorted, so tests can compare lists)."""
        raise NotImplementedError


class PaperVenue(Venue):
    name = "paper"

    def __init__(self, market: MarketState, sessions: SessionFactory | None = None) -> None:
        self._market = market
        self._sessions = sessions

    async def open_protective_orders(self, broker: dict[str, Any]) -> list[ProtectiveOrder]:
        assert self._sessions is not None, "PaperVenue needs the stack's sessions for this"
        async with self._sessions() as session:
            rows = await session.scalars(
                select(PaperOrder).where(
                    PaperOrder.broker_id == broker["id"],
                    PaperOrder.status == "new",
                    PaperOrder.type.in_(TRIGGER_TYPES),
                    PaperOrder.triggered_at.is_(None),
                )
            )
            found: list[ProtectiveOrder] = []
            for order in rows:
                assert order.stop_price is not None
                found.append((order.type, order.side, order.stop_price, order.quantity))
            return sorted(found)

    def set_price(self, symbol: str, price: str) -> None:
        self._market.set_price(symbol.replace("/", ""), price)

    async def create_broker(
        self, user: Any, balances: dict[str, str], **fields: Any
    ) -> dict[str, Any]:
        broker: dict[str, Any] = await user.create_broker(balances=balances, **fields)
        return broker


# Each exchange's own words for an order it cannot fund.
INSUFFICIENT_FUNDS = {
    "binance": "Account has insufficient balance for requested action.",
    "bitget": "Insufficient balance",
    "kraken": "EOrder:Insufficient funds",
}
# Where each exchange takes new orders (fault injection and request counting aim here).
ORDER_PATHS = {
    "binance": "/api/v3/order",
    "bitget": "/api/v2/spot/trade/place-order",
    "kraken": "/0/private/AddOrder",
}
# Where each exchange takes stop-loss / take-profit orders (Binance: single or OCO).
PROTECTIVE_ORDER_PATHS = {
    "binance": ("/api/v3/order", "/api/v3/orderList/oco"),
    "bitget": ("/api/v2/spot/trade/place-plan-order",),
    "kraken": ("/0/private/AddOrder",),
}


class FakeVenue(Venue):
    def __init__(self, fake: FakeExchange, url: str) -> None:
        self.order_path = ORDER_PATHS[fake.name]
        self.insufficient_funds = INSUFFICIENT_FUNDS[fake.name]
        self.fake = fake
        self.url = url
        self.name = fake.name
        self.fee_in_quote = fake.ledger.fee_in_quote
        self.accounts: dict[int, Account] = {}

    def set_price(self, symbol: str, price: str) -> None:
        self.fake.set_price(symbol, price)

    async def create_broker(
        self, user: Any, balances: dict[str, str], *, wrong_secret: bool = False, **fields: Any
    ) -> dict[str, Any]:
        account = self.fake.add_account(balances)
        secret = account.api_secret
        if wrong_secret:  # same shape (Kraken's is base64), other bytes
            secret = secret[::-1] if secret[::-1] != secret else secret.swapcase()
        broker: dict[str, Any] = await user.create_broker(
            name=f"{self.name}-{secrets.token_hex(3)}",
            exchange=self.name,
            base_url=self.url,
            credentials={
                "api_key": account.api_key,
                "api_secret": secret,
                "passphrase": account.passphrase,
            },
            **fields,
        )
        self.accounts[broker["id"]] = account
        return broker

    def account(self, broker: dict[str, Any]) -> Account:
        return self.accounts[broker["id"]]

    def exchange_orders(self, broker: dict[str, Any]) -> list[FakeOrder]:
        return list(self.account(broker).orders.values())

    async def open_protective_orders(self, broker: dict[str, Any]) -> list[ProtectiveOrder]:
        # A Binance OCO's take-profit leg may be a LIMIT_MAKER (a limit in the ledger):
        # its price is the target.
        in_oco = self.fake.list_of if isinstance(self.fake, FakeBinance) else {}
        found: list[ProtectiveOrder] = []
        for order in self.exchange_orders(broker):
            if order.status != "open" or order.triggered:
                continue
            if order.type in TRIGGER_TYPES:
                assert order.stop_price is not None
                found.append((order.type, order.side, order.stop_price, order.quantity))
            elif order.type == "limit" and order.order_id in in_oco:
                assert order.price is not None
                found.append(("take_profit", order.side, order.price, order.quantity))
        return sorted(found)


def fee_asset(venue: Venue, side: str, base: str, quote: str) -> str:
    if venue.fee_in_quote:
        return quote
    return base if side == "buy" else quote


def as_decimal(value: str | int) -> Decimal:
    return Decimal(str(value))
