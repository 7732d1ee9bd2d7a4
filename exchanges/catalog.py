"""A small built-in symbol catalog (Binance spot filters) for the paper exchange.

The connectors issue replaces it with a per-broker catalog synced from the exchange."""

from decimal import Decimal

from exchanges.types import Market


def _market(symbol: str, step: str, tick: str, min_notional: str = "5") -> Market:
    base, quote = symbol.split("/")
    return Market(
        symbol=symbol,
        base=base,
        quote=quote,
        amount_step=Decimal(step),
        price_tick=Decimal(tick),
        min_qty=Decimal(step),
        min_notional=Decimal(min_notional),
    )


_ROWS = [
    ("BTC/USDT", "0.00001", "0.01"),
    ("ETH/USDT", "0.0001", "0.01"),
    ("BNB/USDT", "0.001", "0.01"),
    ("SOL/USDT", "0.001", "0.01"),
    ("XRP/USDT", "0.1", "0.0001"),
    ("ADA/USDT", "0.1", "0.0001"),
    ("DOGE/USDT", "1", "0.00001"),
    ("LTC/USDT", "0.001", "0.01"),
    ("LINK/USDT", "0.01", "0.001"),
    ("AVAX/USDT", "0.01", "0.01"),
    ("DOT/USDT", "0.01", "0.001"),
    ("BTC/USDC", "0.00001", "0.01"),
    ("ETH/USDC", "0.0001", "0.01"),
    ("SOL/USDC", "0.001", "0.01"),
    ("ETH/BTC", "0.0001", "0.00001", "0.0001"),
]

PAPER_MARKETS: dict[str, Market] = {row[0]: _market(*row) for row in _ROWS}

# Where the simulated market starts each symbol (roughly late-2026 levels).
SIMULATED_START_PRICES: dict[str, Decimal] = {
    "BTC": Decimal("95000"),
    "ETH": Decimal("3400"),
    "BNB": Decimal("650"),
    "SOL": Decimal("180"),
    "XRP": Decimal("2.2"),
    "ADA": Decimal("0.75"),
    "DOGE": Decimal("0.2"),
    "LTC": Decimal("100"),
    "LINK": Decimal("18"),
    "AVAX": Decimal("35"),
    "DOT": Decimal("6"),
}
