"""The market price source: Binance when it answers, the simulated market otherwise."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from market.simulated import simulated_price, simulated_range
from market.source import PriceSource
from tests.conftest import free_port
from tests.fakes.binance_market import MarketState


async def test_auto_mode_reports_the_fallback_from_the_start() -> None:
    prices = PriceSource("auto", f"http://127.0.0.1:{free_port()}")
    try:
        assert prices.status()["mode"] == "binance"  # not known yet
        await prices.probe()
        status = prices.status()
        assert status["mode"] == "simulated" and "prices are simulated" in status["warning"]
        assert await prices.price("BTC/USDT") > 0
    finally:
        await prices.close()


async def test_auto_mode_uses_binance_when_it_answers(market: tuple[MarketState, str]) -> None:
    state, url = market
    state.set_price("ETHUSDT", "3210.5")
    prices = PriceSource("auto", url, cache_seconds=0)
    try:
        await prices.probe()
        assert prices.status()["mode"] == "binance" and prices.status()["warning"] is None
        assert await prices.price("ETH/USDT") == Decimal("3210.5")
        assert await prices.prices(["ETH/USDT", "BTC/USDT"]) == {
            "ETH/USDT": Decimal("3210.5"),
            "BTC/USDT": state.prices["BTCUSDT"],
        }
    finally:
        await prices.close()


def test_the_simulated_market_is_the_same_in_every_process_and_moves() -> None:
    at = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    first = simulated_price("BTC/USDT", at)
    assert first == simulated_price("BTC/USDT", at)  # a pure function of time
    later = [simulated_price("BTC/USDT", at + timedelta(minutes=m)) for m in range(1, 60)]
    assert len(set(later)) > 50  # it moves
    assert all(Decimal(50000) < p < Decimal(200000) for p in later)  # around its level
    low, high = simulated_range("BTC/USDT", at, at + timedelta(minutes=10))
    assert low <= first <= high and low < high
