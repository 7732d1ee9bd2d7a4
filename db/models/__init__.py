"""All tables; importing this package registers them on Base.metadata."""

from db.models.assistant import AssistantSettings
from db.models.brokers import Broker
from db.models.candles import CandleRow
from db.models.events import Event
from db.models.feed import FeedStatus
from db.models.markets import MarketRow, SymbolSync
from db.models.orders import Order, Position
from db.models.paper import PaperBalance, PaperOrder
from db.models.strategies import Strategy, StrategyEvaluation, StrategyVersion
from db.models.users import AuthSession, User
from db.models.webhooks import Webhook, WebhookClaim

__all__ = [
    "AssistantSettings",
    "AuthSession",
    "Broker",
    "CandleRow",
    "Event",
    "FeedStatus",
    "MarketRow",
    "Order",
    "PaperBalance",
    "PaperOrder",
    "Position",
    "Strategy",
    "StrategyEvaluation",
    "StrategyVersion",
    "SymbolSync",
    "User",
    "Webhook",
    "WebhookClaim",
]
