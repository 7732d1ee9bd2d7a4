"""Names, ids and inputs of the dashboard's order workflows (manual order, cancel, edit):
what the API needs to start them, without workflow code. A manual order's input is
`workflows.inputs.OrderIntent`, its result `OrderOutcome`."""

from decimal import Decimal

from pydantic import BaseModel

MANUAL_ORDER = "ManualOrder"
CANCEL_ORDER = "CancelOrder"
REPLACE_ORDER = "ReplaceOrder"


def manual_order_workflow_id(broker_id: int, confirmation_digest: str) -> str:
    """From the confirmation: submitting the same confirmation twice starts one order."""
    return f"manual-b{broker_id}-{confirmation_digest[:16]}"


def close_position_workflow_id(position_id: int) -> str:
    return f"close-p{position_id}"


def cancel_workflow_id(order_id: int) -> str:
    return f"cancel-o{order_id}"


def replace_workflow_id(order_id: int) -> str:
    return f"replace-o{order_id}"


class CancelInput(BaseModel):
    order_id: int


class ReplaceInput(BaseModel):
    """A resting limit order's new price and/or quantity (None: keep the current one; the
    quantity then is what is left unfilled)."""

    order_id: int
    price: Decimal | None = None
    quantity: Decimal | None = None


class EditOutcome(BaseModel):
    # The order that is live now: the canceled one, or the replacement.
    order_id: int
    status: str
    outcome: str
    replaced_order_id: int | None = None
    position_id: int | None = None
