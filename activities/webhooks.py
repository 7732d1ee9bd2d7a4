"""Webhook record updates made by the signal workflow."""

from pydantic import BaseModel
from temporalio import activity

from db.events import emit
from db.models import Webhook
from db.session import SessionFactory


class WebhookOutcome(BaseModel):
    webhook_id: int
    status: str  # processed | error
    outcome: str | None = None
    error: str | None = None
    order_id: int | None = None


class WebhookActivities:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    async def mark_webhook_processing(self, webhook_id: int) -> None:
        async with self._sessions.begin() as session:
            webhook = await session.get(Webhook, webhook_id, with_for_update=True)
            if webhook is not None and webhook.status == "received":  # None: broker deleted
                webhook.status = "processing"
                await emit(session, webhook.user_id, "webhook", webhook.id)

    @activity.defn
    async def finish_webhook(self, result: WebhookOutcome) -> None:
        async with self._sessions.begin() as session:
            webhook = await session.get(Webhook, result.webhook_id, with_for_update=True)
            if webhook is None:  # its broker was deleted meanwhile
                return
            webhook.status = result.status
            webhook.outcome = result.outcome
            webhook.error = result.error
            if result.order_id is not None:
                webhook.order_id = result.order_id
            await emit(session, webhook.user_id, "webhook", webhook.id)
