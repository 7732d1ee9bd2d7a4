"""One small error hierarchy every connector maps its exchange's errors to."""


class ExchangeError(Exception):
    """Base class. `retryable` tells activities whether a retry can help."""

    retryable = False

    def __init__(self, message: str, *, raw: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.raw = raw


class InsufficientFunds(ExchangeError):
    pass


class InvalidOrder(ExchangeError):
    """Rejected by a filter: lot size, tick size, minimum notional, bad parameters."""


class UnknownSymbol(InvalidOrder):
    pass


class NotSupported(InvalidOrder):
    """The exchange (or this connector) cannot do this; see Capabilities."""


class OrderNotFound(ExchangeError):
    pass


class DuplicateOrder(ExchangeError):
    pass


class AuthenticationFailed(ExchangeError):
    pass


class RateLimited(ExchangeError):
    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, raw: object = None):
        super().__init__(message, raw=raw)
        self.retry_after = retry_after


class ExchangeUnavailable(ExchangeError):
    """5xx, maintenance, or an answer whose outcome is unknown (a write may have landed)."""

    retryable = True


class NetworkError(ExchangeError):
    retryable = True
