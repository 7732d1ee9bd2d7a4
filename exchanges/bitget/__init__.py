"""Bitget spot connector (REST v2, https://www.bitget.com/api-doc/spot/intro).

Orders: `place-order` for market/limit (a market buy is sized in the QUOTE asset), and
plan orders (`place-plan-order`) for stop-loss / take-profit: Bitget has no native OCO on
spot. A plan order only records a trigger price, not whether it is a stop or a take-profit,
so that intent travels in the plan's clientOid as a suffix of our id (`-sl` / `-tp`) and is
stripped again when the order is read back. Once triggered, a plan becomes an ordinary spot
order (its "sub-order"), whose fills and fees are read through `orderInfo`."""

from exchanges.bitget.connector import DEFAULT_BASE_URL, BitgetConnector
from exchanges.bitget.signing import prehash, sign

__all__ = ["DEFAULT_BASE_URL", "BitgetConnector", "prehash", "sign"]
