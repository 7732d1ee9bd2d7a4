"""Starts the workflow of each accepted webhook after the delivery is answered.

The webhook row (status `received`, with its workflow id) is committed before the answer,
so the ack never waits for Temporal. The start happens right after; if it fails (Temporal
down, the API process killed in between) the sweeper starts every row still `received`
a moment later. Starting is idempotent: the workflow id is fixed when the row is written
and a second start with it attaches to, or is refused by, the first run."""

import asyncio
import contextlib
from datetime import timedelta

from loguru import logger
from sqlalchemy import select, update
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from api.temporal_link import TemporalLink
from db.base import utcnow
from db.events import emit
from db.models import User, Webhook
from db.session import SessionFactory
from workflows.inputs import WEBHOOK_SIGNAL, WebhookSignalInput
from workflows.search_attributes import order_attributes

SWEEP_EVERY = 2.0
# A row younger than this is still being started by the request that wrote it.
SWEEP_AFTER = timedelta(seconds=3)


class SignalStarter:
    def __init__(
        self,
        sessions: SessionFactory,
        temporal: TemporalLink,
        task_queue: str,
        max_delay: timedelta = timedelta(minutes=10),
    ):
        self._sessions = sessions
        self._temporal = temporal
        self._task_queue = task_queue
        self._max_delay = max_delay
        self._pending: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None

    def submit(self, webhook: Webhook, username: str) -> None:
        task = asyncio.create_task(self._start_logged(webhook, username))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def start(self, webhook: Webhook, username: str) -> bool:
        """Starts the workflow, or attaches to it while it runs; False if it has closed."""
        assert webhook.workflow_id is not None and webhook.action is not None
        try:
            await self._temporal.client.start_workflow(
                WEBHOOK_SIGNAL,
                WebhookSignalInput(
                    webhook_id=webhook.id,
                    user_id=webhook.user_id,
                    broker_id=webhook.broker_id,
                    action=webhook.action,
                    symbol=webhook.symbol,
                    price=webhook.price,
                    percent=webhook.percent if webhook.percent is not None else 100,
                    stop_loss=webhook.stop_loss,
                    take_profit=webhook.take_profit,
                ),
                id=webhook.workflow_id,
                task_queue=self._task_queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                search_attributes=order_attributes(
                    user=username,
                    broker_id=webhook.broker_id,
                    symbol=webhook.symbol,
                    action=webhook.action,
                    source="webhook",
                ),
                execution_timeout=timedelta(days=1),
            )
        except WorkflowAlreadyStartedError:
            return False
        return True

    async def _start_logged(self, webhook: Webhook, username: str) -> None:
        try:
            await self.start(webhook, username)
        except Exception as exc:  # the sweeper retries it
            logger.warning("webhook {}: workflow not started yet ({})", webhook.id, exc)

    def run_sweeper(self) -> None:
        self._sweeper = asyncio.create_task(self._sweep_forever())

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            try:
                await self.sweep()
            except Exception as exc:  # keep sweeping
                logger.warning("starting waiting webhooks failed: {}", exc)

    async def sweep(self) -> int:
        """Starts the workflows of rows still `received`; returns how many it looked at."""
        async with self._sessions() as session:
            rows = (
                await session.execute(
                    select(Webhook, User.username)
                    .join(User, User.id == Webhook.user_id)
                    .where(
                        Webhook.status == "received",
                        Webhook.workflow_id.is_not(None),
                        Webhook.received_at < utcnow() - SWEEP_AFTER,
                    )
                    .order_by(Webhook.id)
                    .limit(200)
                )
            ).all()
        for webhook, username in rows:
            try:
                waited = utcnow() - webhook.received_at
                if waited > self._max_delay:
                    await self._give_up(
                        webhook,
                        f"not traded: the alert waited {int(waited.total_seconds())} s for"
                        f" Temporal (the limit is {int(self._max_delay.total_seconds())} s)",
                    )
                elif not await self.start(webhook, username):
                    await self._give_up(webhook, "its workflow ended before it could run")
            except Exception as exc:  # one row must not stop the others
                logger.warning("webhook {}: workflow not started yet ({})", webhook.id, exc)
        return len(rows)

    async def _give_up(self, webhook: Webhook, reason: str) -> None:
        async with self._sessions.begin() as session:
            changed = await session.execute(
                update(Webhook)
                .where(Webhook.id == webhook.id, Webhook.status == "received")
                .values(status="error", error=reason, updated_at=utcnow())
            )
            if changed.rowcount:  # type: ignore[attr-defined]
                await emit(session, webhook.user_id, "webhook", webhook.id)
                logger.warning("webhook {}: {}", webhook.id, reason)

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        if self._pending:
            await asyncio.wait(self._pending, timeout=5)
