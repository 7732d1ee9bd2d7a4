"""Binance's error answers -> our error hierarchy."""

from typing import Any

import httpx

from exchanges.errors import (
    AuthenticationFailed,
    DuplicateOrder,
    ExchangeError,
    ExchangeUnavailable,
    InsufficientFunds,
    InvalidOrder,
    OrderNotFound,
    RateLimited,
    UnknownSymbol,
)
from exchanges.http import retry_after

AUTH_CODES = {-1002, -1022, -2014, -2015}
UNKNOWN_OUTCOME_CODES = {-1000, -1001, -1006, -1007, -1008}


def _body(response: httpx.Response) -> tuple[Any, int, str]:
    """An error answer's JSON, code and message (code 0 when it is not Binance's JSON)."""
    if response.is_success:
        return None, 0, ""
    try:
        body = response.json()
        return body, int(body.get("code", 0)), str(body.get("msg", ""))
    except (ValueError, AttributeError, TypeError):
        return None, 0, response.text[:200]


def _error(response: httpx.Response) -> ExchangeError:
    """The exchange's answer as one of our errors; the message keeps Binance's own text."""
    body, code, msg = _body(response)
    text = (
        f"binance: {msg} (code {code})" if code else f"binance: HTTP {response.status_code} {msg}"
    )
    if response.status_code in (418, 429) or code in (-1003, -1015):
        return RateLimited(text, retry_after=retry_after(response), raw=body)
    if response.status_code >= 500 or code in UNKNOWN_OUTCOME_CODES:
        return ExchangeUnavailable(f"{text}: the outcome is unknown", raw=body)
    if code in AUTH_CODES:
        return AuthenticationFailed(f"authentication failed: {msg}", raw=body)
    if code == -2010:
        if "insufficient balance" in msg:
            return InsufficientFunds(text, raw=body)
        if "Duplicate order" in msg:
            return DuplicateOrder(text, raw=body)
        return InvalidOrder(text, raw=body)
    if code in (-2013, -2026) or (code == -2011 and "Unknown order" in msg):
        return OrderNotFound(text, raw=body)
    if code == -1121:
        return UnknownSymbol(text, raw=body)
    if code == -1021:
        return ExchangeError(f"{text}: check this machine's clock", raw=body)
    if code <= -1100 or code in (-1013, -1014, -1020, -2011):
        return InvalidOrder(text, raw=body)
    return ExchangeError(text, raw=body)
