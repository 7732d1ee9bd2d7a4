"""Exchange errors become Temporal failures at the activity boundary.

Business errors (insufficient funds, invalid order, bad credentials) are non-retryable and
carry the exchange's message to the webhook/order record; rate limits retry after the
exchange's Retry-After; outages and network errors retry with the activity's backoff."""

from datetime import timedelta

from temporalio.exceptions import ApplicationError

from exchanges.errors import ExchangeError, RateLimited


def as_application_error(error: ExchangeError) -> ApplicationError:
    delay = None
    if isinstance(error, RateLimited) and error.retry_after:
        delay = timedelta(seconds=error.retry_after)
    return ApplicationError(
        error.message,
        type=type(error).__name__,
        non_retryable=not error.retryable,
        next_retry_delay=delay,
    )


def business_error(message: str, kind: str = "BusinessError") -> ApplicationError:
    return ApplicationError(message, type=kind, non_retryable=True)
