"""Receiving a TradingView delivery: record it (exactly one row per delivery), deduplicate,
answer, and hand the accepted alert to the workflow starter. The answer waits for one
short transaction only, so it stays far inside TradingView's 3 s limit under load and
while Temporal is down (the alert then waits, recorded, until it is back)."""

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from loguru import logger
from sqlalchemy import select, update

from api.brokers_service import token_digest
from api.signal_starter import SignalStarter
from db.base import utcnow
from db.events import emit
from db.models import Broker, User, Webhook, WebhookClaim
from db.session import SessionFactory
from db.upsert import insert_ignore
from tradingview.payload import (
    MAX_BODY_BYTES,
    PayloadError,
    Signal,
    parse_body,
    parse_signal,
    readable_fields,
)
from workflows.inputs import webhook_workflow_id

BODY_DEDUPE_WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    content_type: str | None
    remote_addr: str | None
    oversized_bytes: int | None = None  # set when the body was cut at the limit


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any] | None


@dataclass(frozen=True)
class BrokerRef:
    id: int
    user_id: int
    username: str


class WebhookIntake:
    def __init__(self, sessions: SessionFactory, starter: SignalStarter):
        self._sessions = sessions
        self._starter = starter

    async def receive(self, broker: BrokerRef, delivery: Delivery) -> Answer:
        trace_id = str(uuid.uuid4())
        row = Webhook(
            user_id=broker.user_id,
            broker_id=broker.id,
            # As received, minus NUL characters (PostgreSQL text cannot hold them).
            raw_body=delivery.body.decode("utf-8", errors="replace").replace("\x00", "\ufffd"),
            content_type=delivery.content_type,
            body_sha256=hashlib.sha256(delivery.body).hexdigest(),
            trace_id=trace_id,
            remote_addr=delivery.remote_addr,
            received_at=utcnow(),
        )
        if delivery.oversized_bytes is not None:
            return await self._reject(
                row,
                f"body is {delivery.oversized_bytes} bytes; the limit is {MAX_BODY_BYTES}",
                413,
            )
        fields: dict[str, Any] = {}
        try:
            fields = parse_body(delivery.body)
            row.fields = _jsonable(fields)
            signal = parse_signal(fields)
        except PayloadError as error:
            readable = readable_fields(fields)  # what the log can still show
            row.action, row.symbol = readable.get("action"), readable.get("symbol")
            return await self._reject(row, str(error), 422)
        _copy_signal(row, signal)
        if signal.broker_id is not None and signal.broker_id != broker.id:
            return await self._reject(
                row,
                f"broker_id {signal.broker_id} does not match this webhook URL's broker"
                f" ({broker.id}): each broker has its own URL",
                422,
            )
        return await self._accept(broker, row, signal)

    async def _reject(self, row: Webhook, message: str, status_code: int) -> Answer:
        row.status, row.error = "rejected", message
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            await emit(session, row.user_id, "webhook", row.id)
        logger.info("webhook {} rejected: {}", row.id, message)
        return Answer(status_code, {"detail": message})

    async def _accept(self, broker: BrokerRef, row: Webhook, signal: Signal) -> Answer:
        key = f"id:{signal.alert_id}" if signal.alert_id else f"body:{row.body_sha256}"
        expires = None if signal.alert_id else utcnow() + BODY_DEDUPE_WINDOW
        async with self._sessions.begin() as session:
            session.add(row)
            await session.flush()
            original = await self._claim(session, broker.id, key, row.id, expires)
            if original is not None:
                row.status, row.duplicate_of_id = "duplicate", original.id
                row.workflow_id = original.workflow_id
                await emit(session, row.user_id, "webhook", row.id)
                return Answer(200, _duplicate_body(original, row))
            row.workflow_id = webhook_workflow_id(
                broker.id, row.id, signal.action, signal.symbol, row.trace_id
            )
            await emit(session, row.user_id, "webhook", row.id)
        self._starter.submit(row, broker.username)
        return Answer(
            200,
            {
                "status": "accepted",
                "webhook_id": row.id,
                "trace_id": row.trace_id,
                "workflow_id": row.workflow_id,
            },
        )

    async def _claim(
        self, session: Any, broker_id: int, key: str, webhook_id: int, expires: Any
    ) -> Webhook | None:
        """Claims the dedupe key for this delivery; returns the original on a duplicate."""
        values = {
            "broker_id": broker_id,
            "key": key,
            "webhook_id": webhook_id,
            "expires_at": expires,
        }
        if await insert_ignore(session, WebhookClaim, values, ["broker_id", "key"]):
            return None
        taken = await session.execute(
            update(WebhookClaim)
            .where(
                WebhookClaim.broker_id == broker_id,
                WebhookClaim.key == key,
                WebhookClaim.expires_at.is_not(None),
                WebhookClaim.expires_at < utcnow(),
            )
            .values(webhook_id=webhook_id, expires_at=expires)
        )
        if taken.rowcount:
            return None
        claim = await session.get(WebhookClaim, (broker_id, key))
        original: Webhook | None = await session.get(Webhook, claim.webhook_id)
        return original


async def find_broker_by_token(sessions: SessionFactory, token: str) -> BrokerRef | None:
    digest = token_digest(token)
    async with sessions() as session:
        row = (
            await session.execute(
                select(Broker.id, Broker.user_id, Broker.webhook_token_hash, User.username)
                .join(User, User.id == Broker.user_id)
                .where(Broker.webhook_token_hash == digest)
            )
        ).first()
    if row is None or not hmac.compare_digest(row.webhook_token_hash, digest):
        return None
    return BrokerRef(id=row.id, user_id=row.user_id, username=row.username)


def _copy_signal(row: Webhook, signal: Signal) -> None:
    row.action, row.symbol = signal.action, signal.symbol
    row.price, row.percent = signal.price, signal.percent
    row.stop_loss, row.take_profit = signal.stop_loss, signal.take_profit
    row.alert_id, row.interval = signal.alert_id, signal.interval
    row.bar_time, row.exchange = signal.bar_time, signal.exchange


def _duplicate_body(original: Webhook, row: Webhook) -> dict[str, Any]:
    return {
        "status": "duplicate",
        "webhook_id": original.id,
        "trace_id": original.trace_id,
        "workflow_id": original.workflow_id,
        "duplicate_webhook_id": row.id,
    }


def _jsonable(fields: dict[str, Any]) -> dict[str, Any]:
    """Decimals from the JSON parser become strings so the JSON column can store them."""
    return json.loads(json.dumps(fields, default=str))
