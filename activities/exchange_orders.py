"""A recorded order on its exchange: read it, or cancel it and learn its final state. By the
exchange's id when we have it, else by our client order id."""

from db.models import Order
from exchanges.errors import InvalidOrder, OrderNotFound
from exchanges.protocol import ExchangeConnector
from exchanges.types import ExchangeOrder

OPEN_STATUSES = ("open", "partially_filled")


def order_ref(order: Order) -> dict[str, str]:
    if order.exchange_order_id:
        return {"exchange_order_id": order.exchange_order_id}
    return {"client_order_id": order.client_order_id}


async def lookup(connector: ExchangeConnector, order: Order) -> ExchangeOrder | None:
    """None when the exchange has no such order (a placement that never reached it)."""
    try:
        return await connector.fetch_order(order.symbol, **order_ref(order))
    except OrderNotFound:
        return None


async def cancel_or_read(connector: ExchangeConnector, order: Order) -> ExchangeOrder | None:
    """The order's state after a cancel. A cancel refused because the order is done (filled
    meanwhile, cancelled with its OCO sibling or by an earlier attempt; Bitget calls that
    "invalid") reads the final state instead; a refusal of an order still open is raised.
    None when the exchange never had the order."""
    try:
        return await connector.cancel_order(order.symbol, **order_ref(order))
    except (OrderNotFound, InvalidOrder) as refused:
        answer = await lookup(connector, order)
        if answer is not None and answer.status in OPEN_STATUSES:
            raise refused from None
        return answer
