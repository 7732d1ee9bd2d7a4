"""Binance spot (REST v3).

Signed requests carry `timestamp` (the exchange's clock, see `ServerClock`) and
`recvWindow`, then `signature` = hex HMAC-SHA256 of exactly the bytes sent (query string for
GET/DELETE, form body for POST). Orders are placed with `newOrderRespType=FULL` so market
fills (price, fee) come back in the answer; orders looked up later get their fees from
`myTrades`. Binance refuses a `newClientOrderId` only while that order is open, so callers
must look a client id up (fetch_order) before retrying a placement."""

from exchanges.binance.connector import DEFAULT_BASE_URL, BinanceConnector
from exchanges.binance.signing import sign

__all__ = ["DEFAULT_BASE_URL", "BinanceConnector", "sign"]
