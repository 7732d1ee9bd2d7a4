"""Kraken's answers -> our error hierarchy. Kraken answers HTTP 200 with its errors in
`{"error": [...]}`."""

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

EXCHANGE = "Kraken"


def kraken_error(errors: list[str], response: httpx.Response | None = None) -> ExchangeError:
    """Maps Kraken's error strings (`EOrder:Insufficient funds`) to our hierarchy."""
    text = "; ".join(errors)
    message = f"{EXCHANGE}: {text}"
    if "Insufficient funds" in text:
        return InsufficientFunds(message, raw=errors)
    if any(
        marker in text
        for marker in (
            "EAPI:Invalid key",
            "EAPI:Invalid signature",
            "EAPI:Invalid nonce",
            "EGeneral:Permission denied",
            "EGeneral:Temporary lockout",
            "EAuth:",
            "EAccount:",
        )
    ):
        return AuthenticationFailed(f"authentication failed: {text}", raw=errors)
    if "Rate limit exceeded" in text or "Too many requests" in text:
        wait = retry_after(response) if response is not None else None
        return RateLimited(message, retry_after=wait, raw=errors)
    if "cancel_only" in text or "post_only" in text or "limit_only" in text:
        # "EService:Market in cancel_only mode": a refusal of this order, not an outage.
        return InvalidOrder(message, raw=errors)
    if any(marker in text for marker in ("EService:", "Internal error", "EDatabase:")):
        return ExchangeUnavailable(message, raw=errors)
    if "Unknown asset pair" in text or "Invalid asset pair" in text:
        return UnknownSymbol(message, raw=errors)
    # QueryOrders answers "Invalid order" for a txid it does not know.
    if "EOrder:Unknown order" in text or "EOrder:Invalid order" in text:
        return OrderNotFound(message, raw=errors)
    if "uplicate" in text:
        return DuplicateOrder(message, raw=errors)
    if text.startswith(("EOrder:", "EGeneral:Invalid arguments", "EQuery:")):
        return InvalidOrder(message, raw=errors)
    return ExchangeError(message, raw=errors)


def _unwrap(response: httpx.Response) -> Any:
    """The `result` of Kraken's envelope, or the mapped error."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = []
    if isinstance(body, dict):
        # "W..." entries are warnings attached to a successful answer.
        errors = [str(e) for e in body.get("error") or [] if not str(e).startswith("W")]
    detail = f": {'; '.join(errors)}" if errors else ""
    if response.status_code in (418, 429):
        raise RateLimited(
            f"{EXCHANGE} rate limit (HTTP {response.status_code}){detail}",
            retry_after=retry_after(response),
            raw=body,
        )
    if response.status_code >= 500:
        raise ExchangeUnavailable(
            f"{EXCHANGE} answered HTTP {response.status_code}{detail}", raw=body
        )
    if errors:
        raise kraken_error(errors, response)
    if response.status_code != 200 or not isinstance(body, dict):
        raise ExchangeError(f"{EXCHANGE} answered HTTP {response.status_code}{detail}", raw=body)
    return body.get("result")
