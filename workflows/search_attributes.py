"""Custom search attributes set on every workflow so the Temporal Web UI can filter
order histories (values are stored unencrypted: ids and names only, never secrets)."""

from temporalio.common import (
    SearchAttributeKey,
    SearchAttributePair,
    TypedSearchAttributes,
)

USER = SearchAttributeKey.for_keyword("AristobotUser")
BROKER = SearchAttributeKey.for_keyword("AristobotBroker")
SYMBOL = SearchAttributeKey.for_keyword("AristobotSymbol")
ACTION = SearchAttributeKey.for_keyword("AristobotAction")
SOURCE = SearchAttributeKey.for_keyword("AristobotSource")

ALL = (USER, BROKER, SYMBOL, ACTION, SOURCE)


def order_attributes(
    *, user: str, broker_id: int, symbol: str | None, action: str, source: str
) -> TypedSearchAttributes:
    pairs = [
        SearchAttributePair(USER, user),
        SearchAttributePair(BROKER, str(broker_id)),
        SearchAttributePair(ACTION, action),
        SearchAttributePair(SOURCE, source),
    ]
    if symbol:
        pairs.append(SearchAttributePair(SYMBOL, symbol))
    return TypedSearchAttributes(pairs)
