"""Reading an activity failure inside a workflow: its message for the user's record, and
whether it was a business refusal (non-retryable) or an outage."""

from temporalio.exceptions import ActivityError, ApplicationError


def _root(error: BaseException) -> BaseException:
    cause: BaseException | None = error
    while isinstance(cause, ActivityError) and cause.cause is not None:
        cause = cause.cause
    assert cause is not None
    return cause


def failure_message(error: BaseException) -> str:
    cause = _root(error)
    return cause.message if isinstance(cause, ApplicationError) else str(cause)


def is_business_failure(error: BaseException) -> bool:
    cause = _root(error)
    return isinstance(cause, ApplicationError) and cause.non_retryable


def failure_type(error: BaseException) -> str | None:
    cause = _root(error)
    return cause.type if isinstance(cause, ApplicationError) else None
