"""Binance request signing: `signature` = hex HMAC-SHA256 of exactly the bytes sent."""

import hashlib
import hmac

RECV_WINDOW = 5000


def sign(secret: str, payload: str) -> str:
    """Binance's signature of `payload` (query string + body, no separator)."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def signed_query(query: str, secret: str, timestamp: int) -> str:
    """`query` with `recvWindow`, `timestamp` and then the `signature` of all of it."""
    query += f"{'&' if query else ''}recvWindow={RECV_WINDOW}&timestamp={timestamp}"
    query += f"&signature={sign(secret, query)}"
    return query
