"""The confirmation of a validated order (the old system's two-step confirmation): a
stateless token, an HMAC over the normalized order, the user and the expiry, valid 15 s.

`v1.<expires ms>.<nonce>.<mac>`: the random nonce makes every validation a distinct
token, so the manual order's workflow id (from the token's digest) is one order per
confirmation, however often it is submitted."""

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from fastapi import HTTPException, Request, status
from pydantic import BaseModel

from config.secrets import load_or_create_key
from config.settings import Settings
from trading.format import plain

WINDOW = timedelta(seconds=15)
VERSION = "v1"


class OrderTerms(BaseModel):
    """The fields a confirmation covers, as the user gave them (the order path rounds)."""

    broker_id: int
    symbol: str
    side: str
    type: str
    quantity: Decimal | None = None
    quote_amount: Decimal | None = None
    price: Decimal | None = None

    def canonical(self) -> str:
        def text(value: Decimal | None) -> str:
            return "" if value is None else plain(value)

        return "|".join(
            [
                str(self.broker_id),
                self.symbol,
                self.side,
                self.type,
                text(self.quantity),
                text(self.quote_amount),
                text(self.price),
            ]
        )


def confirmation_key(settings: Settings) -> bytes:
    """Derived from the master key, so it is never the key that encrypts credentials."""
    return hmac.new(
        load_or_create_key(settings), b"aristobot/order-confirmation", hashlib.sha256
    ).digest()


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OrderTokens:
    def __init__(
        self, key: bytes, window: timedelta = WINDOW, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = key
        self.window = window
        self._clock = clock

    def issue(self, user_id: int, terms: OrderTerms) -> tuple[str, datetime]:
        expires_ms = int((self._clock() + self.window.total_seconds()) * 1000)
        nonce = secrets.token_hex(8)
        mac = self._mac(user_id, terms, expires_ms, nonce)
        expires_at = datetime.fromtimestamp(expires_ms / 1000, UTC)
        return f"{VERSION}.{expires_ms}.{nonce}.{mac}", expires_at

    def check(self, token: str, user_id: int, terms: OrderTerms) -> None:
        """Raises 422 when the token is not ours or not for this order, 409 once expired."""
        parts = token.split(".")
        if len(parts) != 4 or parts[0] != VERSION or not parts[1].isdigit():
            raise _mismatch()
        expected = self._mac(user_id, terms, int(parts[1]), parts[2])
        if not hmac.compare_digest(expected, parts[3]):
            raise _mismatch()
        if int(parts[1]) < self._clock() * 1000:
            raise HTTPException(status.HTTP_409_CONFLICT, "confirmation expired: validate again")

    def _mac(self, user_id: int, terms: OrderTerms, expires_ms: int, nonce: str) -> str:
        message = f"{VERSION}|{user_id}|{expires_ms}|{nonce}|{terms.canonical()}"
        raw = hmac.new(self._key, message.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _mismatch() -> HTTPException:
    return HTTPException(
        status.HTTP_422_UNPROCESSABLE_CONTENT,
        "the confirmation does not match this order (changed since it was validated?):"
        " validate again",
    )


def order_tokens(request: Request) -> OrderTokens:
    """The process's signer, made on first use (tests may replace it on app.state)."""
    tokens: OrderTokens | None = getattr(request.app.state, "order_tokens", None)
    if tokens is None:
        settings: Settings = request.app.state.runtime.settings
        tokens = request.app.state.order_tokens = OrderTokens(confirmation_key(settings))
    return tokens
