"""Stop-loss / take-profit orders as each exchange keeps them: Bitget, Kraken and paper hold
nothing until a trigger fires (a position carries both for its whole quantity), Binance
locks the funds (so both go in one OCO). A trigger the balance no longer covers ends as
that exchange reports it, never in a negative balance."""

import secrets
from decimal import Decimal as D

import pytest

from exchanges.errors import InsufficientFunds
from exchanges.protocol import ExchangeConnector
from exchanges.types import OcoRequest, OrderRequest
from tests.conftest import ApiUser
from tests.venues import Venue
from workers.stack import Stack

# How each exchange reports a triggered order it could not pay for.
UNFUNDED = {"paper": "rejected", "bitget": "rejected", "kraken": "canceled"}


def protective(kind: str, stop: str) -> OrderRequest:
    return OrderRequest(
        symbol="BTC/USDT",
        side="sell",
        type=kind,
        quantity=D("0.01"),
        stop_price=D(stop),
        client_order_id="p" + secrets.token_hex(6),
    )


async def btc(exchange: ExchangeConnector) -> tuple[D, D]:
    balance = (await exchange.fetch_balances()).get("BTC")
    return (balance.free, balance.locked) if balance else (D(0), D(0))


async def test_stop_loss_and_take_profit_for_the_whole_position(
    venue: Venue, user: ApiUser, stack: Stack
) -> None:
    venue.set_price("BTC/USDT", "50000")
    broker = await venue.create_broker(user, {"BTC": "0.01", "USDT": "100"})
    assert stack.runtime is not None
    exchange = await stack.runtime.connectors.for_broker(broker["id"])
    stop = protective("stop_loss", "45000")
    target = protective("take_profit", "55000")
    await exchange.create_order(stop)
    if venue.name == "binance":
        # The stop holds the BTC: a second order for it is refused; an OCO shares it.
        with pytest.raises(InsufficientFunds):
            await exchange.create_order(target)
        assert await btc(exchange) == (D(0), D("0.01"))
        await exchange.cancel_order("BTC/USDT", client_order_id=stop.client_order_id)
        await exchange.create_oco(
            OcoRequest(
                symbol="BTC/USDT",
                side="sell",
                quantity=D("0.01"),
                client_order_id="o" + secrets.token_hex(6),
                take_profit_price=D(55000),
                stop_price=D(45000),
            )
        )
        assert await btc(exchange) == (D(0), D("0.01"))
    else:
        await exchange.create_order(target)
        assert await btc(exchange) == (D("0.01"), D(0))
    assert await venue.open_protective_orders(broker) == [
        ("stop_loss", "sell", D(45000), D("0.01")),
        ("take_profit", "sell", D(55000), D("0.01")),
    ]

    venue.set_price("BTC/USDT", "44000")
    await exchange.fetch_open_orders()  # the paper exchange looks at the market lazily
    assert await btc(exchange) == (D(0), D(0))
    if venue.name == "binance":  # the OCO canceled its take-profit leg
        assert await venue.open_protective_orders(broker) == []
        return
    # The others do not know the two belong together: the take-profit still waits, and
    # once reached there is nothing left to sell.
    assert await venue.open_protective_orders(broker) == [
        ("take_profit", "sell", D(55000), D("0.01"))
    ]
    venue.set_price("BTC/USDT", "56000")
    failed = await exchange.fetch_order("BTC/USDT", client_order_id=target.client_order_id)
    assert (failed.status, failed.filled_quantity) == (UNFUNDED[venue.name], D(0))
    assert await venue.open_protective_orders(broker) == []
    assert await btc(exchange) == (D(0), D(0))
