"""Exchange errors become Temporal failures at the activity boundary.

Business errors (insufficient funds, invalid order, bad credentials) are non-retryable and
carry the exchange's message to the webhook/order record; rate limits retry after the
exchange's Retry-After; outages and network errors retry with the activity's backoff."""

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from exchanges.errors import ExchangeError, RateLimited

# A longer Retry-After (Binance's 418 bans last minutes to days) would trade a stale
# signal: the intent fails instead, with the exchange's reason.
MAX_RETRY_AFTER = 120.0


def as_application_error(error: ExchangeError) -> ApplicationError:
    delay = None
    message, retryable = error.message, error.retryable
    if isinstance(error, RateLimited) and error.retry_after:
        if error.retry_after > MAX_RETRY_AFTER:
            message = (
                f"{message} (the exchange asks to wait {int(error.retry_after)} s: not retried)"
            )
            retryable = False
        else:
            delay = timedelta(seconds=error.retry_after)
    return ApplicationError(
        message,
        type=type(error).__name__,
        non_retryable=not retryable,
        next_retry_delay=delay,
    )


def business_error(message: str, kind: str = "BusinessError") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)
