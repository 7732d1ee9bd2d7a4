"""Unified symbols: `BTC/USDT`. TradingView sends `BTCUSDT`, `BTC/USDT` or `BINANCE:BTCUSDT`."""

import re

# Longest first so `FDUSD` wins over `USD`.
QUOTE_ASSETS = sorted(
    [
        "USDT",
        "USDC",
        "FDUSD",
        "TUSD",
        "BUSD",
        "DAI",
        "USD",
        "EUR",
        "GBP",
        "TRY",
        "BRL",
        "BTC",
        "ETH",
        "BNB",
    ],
    key=len,
    reverse=True,
)
_ASSET = re.compile(r"^[A-Z0-9]{1,20}$")


class SymbolError(ValueError):
    pass


def normalize_symbol(raw: str) -> str:
    text = raw.strip().upper()
    if ":" in text:  # BINANCE:BTCUSDT
        text = text.split(":", 1)[1]
    if text.endswith(".P"):  # TradingView's perpetual futures suffix
        raise SymbolError(f"{raw!r} is a perpetual futures symbol: Aristobot trades spot")
    for sep in ("/", "-", "_"):
        if sep in text:
            base, _, quote = text.partition(sep)
            return _checked(base, quote, raw)
    for quote in QUOTE_ASSETS:
        if text.endswith(quote) and len(text) > len(quote):
            return _checked(text[: -len(quote)], quote, raw)
    raise SymbolError(
        f"cannot read symbol {raw!r}: expected e.g. BTCUSDT, BTC/USDT or BINANCE:BTCUSDT"
    )


def _checked(base: str, quote: str, raw: str) -> str:
    if not (_ASSET.match(base) and _ASSET.match(quote)):
        raise SymbolError(f"cannot read symbol {raw!r}")
    return f"{base}/{quote}"


def split_symbol(symbol: str) -> tuple[str, str]:
    base, _, quote = symbol.partition("/")
    return base, quote


def exchange_symbol(symbol: str) -> str:
    """`BTC/USDT` -> `BTCUSDT` (Binance's spelling)."""
    return symbol.replace("/", "")
