"""After an exchange accepted an order, reading it back (fills, fee) may still fail. The
order stands either way, so the placement must not fail with a business error: a passing
failure becomes "outcome unknown" (the activity retries and adopts the order by its client
order id); a lasting one (e.g. a key without read permission) returns the order as
accepted, to be reconciled later."""

from collections.abc import Awaitable

from exchanges.errors import ExchangeError, ExchangeUnavailable
from exchanges.types import ExchangeOrder


async def read_back(
    exchange: str, read: Awaitable[ExchangeOrder], accepted: ExchangeOrder
) -> ExchangeOrder:
    try:
        return await read
    except ExchangeError as exc:
        if exc.retryable:
            raise ExchangeUnavailable(
                f"{exchange} accepted order {accepted.exchange_order_id} but reading it back"
                f" failed ({exc.message}): it is looked up again"
            ) from exc
        return accepted
