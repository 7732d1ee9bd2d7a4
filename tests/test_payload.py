"""TradingView payload parsing: aliases, case, formats, and the plain-words errors."""

from decimal import Decimal

import pytest

from exchanges.symbols import SymbolError, normalize_symbol
from tradingview.payload import PayloadError, parse_body, parse_signal


def parse(body: bytes | str):
    return parse_signal(parse_body(body.encode() if isinstance(body, str) else body))


def test_canonical_fields() -> None:
    signal = parse(
        '{"action":"BuyLimit","symbol":"BTCUSDT","price":65000.5,"percent":25,'
        '"sl":60000,"tp":70000,"id":"a1","interval":"15","bar_time":"2026-01-01T00:00:00Z",'
        '"exchange":"BINANCE","broker_id":3}'
    )
    assert signal.action == "BuyLimit"
    assert signal.symbol == "BTC/USDT"
    assert signal.price == Decimal("65000.5")
    assert signal.percent == Decimal(25)
    assert (signal.stop_loss, signal.take_profit) == (Decimal(60000), Decimal(70000))
    assert (signal.alert_id, signal.interval, signal.exchange) == ("a1", "15", "BINANCE")
    assert signal.broker_id == 3


def test_french_aliases_and_any_case() -> None:
    signal = parse(
        '{"ACTION":"sellmarket","Symbol":"BINANCE:ETHUSDT","PourCent":"50","Prix":"2500",'
        '"PrixSL":"2000","PrixTP":"3000","UserExchangeID":"7","BarTime":"x","Interval":"1h"}'
    )
    assert signal.action == "SellMarket"
    assert signal.symbol == "ETH/USDT"
    assert signal.percent == Decimal(50)
    assert signal.price == Decimal(2500)
    assert signal.stop_loss == Decimal(2000) and signal.take_profit == Decimal(3000)
    assert signal.broker_id == 7 and signal.bar_time == "x" and signal.interval == "1h"


def test_ticker_and_alert_id_aliases() -> None:
    signal = parse('{"action":"PING","ticker":"SOL/USDT","alert_id":42}')
    assert signal.symbol == "SOL/USDT" and signal.alert_id == "42"


def test_decimals_stay_exact() -> None:
    assert parse('{"action":"BuyLimit","symbol":"BTCUSDT","price":0.1}').price == Decimal("0.1")


def test_key_value_text_body() -> None:
    signal = parse("action=BuyMarket\nsymbol=BTCUSDT\npercent=10%")
    assert (signal.action, signal.symbol, signal.percent) == ("BuyMarket", "BTC/USDT", 10)


def test_percent_defaults_to_100_and_ping_needs_no_symbol() -> None:
    assert parse('{"action":"BuyMarket","symbol":"BTCUSDT"}').percent == 100
    assert parse('{"action":"PING"}').symbol is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be an object"),
        ("hello there", "neither JSON nor key=value"),
        ('{"symbol":"BTCUSDT"}', 'missing field "action"'),
        ('{"action":"Nope","symbol":"BTCUSDT"}', "unknown action 'Nope'"),
        ('{"action":"BuyMarket"}', 'missing field "symbol"'),
        ('{"action":"BuyMarket","symbol":"???"}', "cannot read symbol"),
        ('{"action":"BuyLimit","symbol":"BTCUSDT"}', 'needs a limit "price"'),
        ('{"action":"BuyLimit","symbol":"BTCUSDT","price":"abc"}', "price must be a number"),
        ('{"action":"BuyLimit","symbol":"BTCUSDT","price":"{{close}}"}', "placeholder"),
        ('{"action":"BuyLimit","symbol":"BTCUSDT","price":-5}', "greater than 0"),
        ('{"action":"BuyMarket","symbol":"BTCUSDT","percent":0}', "at most 100"),
        ('{"action":"BuyMarket","symbol":"BTCUSDT","percent":150}', "at most 100"),
        ('{"action":"BuyMarket","symbol":"BTCUSDT","percent":true}', "must be a number"),
        ('{"action":"BuyMarket","symbol":"BTCUSDT","sl":70000,"tp":60000}', "must be below tp"),
        ('{"action":"BuyLimit","symbol":"BTCUSDT","price":100,"sl":120}', "below the buy price"),
        ('{"action":"MAJ","symbol":"BTCUSDT"}', 'at least one of "sl" or "tp"'),
        ('{"action":"BuyMarket","symbol":"BTCUSDT","broker_id":"x"}', "whole number"),
        ('{"action":"BuyMarket","symbol":{"a":1}}', "must be text"),
        ('{"action":"BuyLimit","symbol":"BTCUSDT","price":1e100}', "too large"),
        ('{"action":"BuyLimit","symbol":"BTCUSDT","price":"1e-20"}', "more than 18 decimal"),
        ('{"action":"BuyLimit","symbol":"BTCUSDT","price":NaN}', "NaN is not a number"),
        ('{"action":"BuyMarket","symbol":"BTCUSDT","interval":"' + "x" * 41 + '"}', "longer"),
        ('{"action":"PING","x":"a\x00b"}', "NUL"),
    ],
)
def test_invalid_payloads_explain_themselves(body: str, message: str) -> None:
    with pytest.raises(PayloadError, match=message if message[0] != "{" else None) as info:
        parse(body)
    assert message in str(info.value)


def test_non_utf8_body() -> None:
    with pytest.raises(PayloadError, match="UTF-8"):
        parse(b"\xff\xfe\x00")


@pytest.mark.parametrize(
    ("raw", "unified"),
    [
        ("BTCUSDT", "BTC/USDT"),
        ("btc/usdt", "BTC/USDT"),
        ("BINANCE:BTCUSDT", "BTC/USDT"),
        ("ETHBTC", "ETH/BTC"),
        ("BTCFDUSD", "BTC/FDUSD"),
        ("SOL-USDC", "SOL/USDC"),
    ],
)
def test_symbol_normalization(raw: str, unified: str) -> None:
    assert normalize_symbol(raw) == unified


def test_unreadable_symbol() -> None:
    with pytest.raises(SymbolError):
        normalize_symbol("USDT")
    with pytest.raises(SymbolError, match="perpetual futures"):
        normalize_symbol("BTCUSDT.P")
