"""Bitget's answers (the `{code, msg, data}` envelope) -> our error hierarchy."""

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

SUCCESS = "00000"

AUTH_CODES = {"40001", "40002", "40003", "40006", "40009", "40011", "40012", "40014", "40037"}
TIMESTAMP_EXPIRED = "40008"
INSUFFICIENT_CODES = {"43012", "40754", "40762"}
NOT_FOUND_CODES = {"43001", "43025", "40109", "40768"}
DUPLICATE_CODES = {"43118", "40786"}
SYMBOL_CODES = {"40034"}
MINIMUM_CODES = {"45110", "43027", "43006"}
PARAM_CODES = {"40808", "43111", "40017", "40019", "43011", "41103"}
MAINTENANCE_CODES = {"40015", "40200", "41114", "43115"}


def _data(response: httpx.Response, payload: Any) -> Any:
    """The envelope's `data`, or the mapped error."""
    status = response.status_code
    code = str(payload.get("code")) if isinstance(payload, dict) else ""
    message = str(payload.get("msg") or "") if isinstance(payload, dict) else ""
    if status == 429 or code == "429":
        raise RateLimited(
            f"Bitget rate limit: {message or 'Too Many Requests'}",
            retry_after=retry_after(response),
            raw=payload,
        )
    if status >= 500:
        raise ExchangeUnavailable(
            f"Bitget is unavailable (HTTP {status}): {message or response.reason_phrase}",
            raw=payload,
        )
    if not code:
        raise ExchangeError(f"unexpected answer from Bitget (HTTP {status})", raw=payload)
    if code == SUCCESS:
        return payload.get("data")
    raise _error(code, message, payload)


def _error(code: str, message: str, payload: Any) -> ExchangeError:
    """Bitget's error codes mapped to the unified errors, keeping Bitget's own message."""
    text = f"{message} (Bitget {code})"
    lowered = message.lower()
    if code in AUTH_CODES:
        return AuthenticationFailed(f"authentication failed: {text}", raw=payload)
    if code == TIMESTAMP_EXPIRED:
        return ExchangeUnavailable(f"request time rejected, check the clock: {text}", raw=payload)
    if code in INSUFFICIENT_CODES:
        return InsufficientFunds(text, raw=payload)
    if code in DUPLICATE_CODES or ("duplicate" in lowered and "client" in lowered):
        return DuplicateOrder(text, raw=payload)
    if code in NOT_FOUND_CODES:
        return OrderNotFound(text, raw=payload)
    if code in SYMBOL_CODES:
        return UnknownSymbol(text, raw=payload)
    if code in MINIMUM_CODES or code in PARAM_CODES:
        return InvalidOrder(text, raw=payload)
    if code in MAINTENANCE_CODES:
        return ExchangeUnavailable(text, raw=payload)
    return ExchangeError(text, raw=payload)
