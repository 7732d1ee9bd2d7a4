"""Market prices: Binance public REST when reachable, a simulated walk otherwise."""

from market.source import PriceSource, create_price_source

__all__ = ["PriceSource", "create_price_source"]
