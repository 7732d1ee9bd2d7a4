"""An alert that arrives while Temporal is unreachable is accepted, kept, and processed
once Temporal answers again (the sweeper starts what the request could not)."""

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update
from temporalio.client import Client

from api.signal_starter import SignalStarter
from api.temporal_link import TemporalLink
from config.settings import Settings
from db.base import utcnow
from db.models import Webhook
from tests.conftest import ApiUser, free_port, wait_webhook_done, webhook_path
from workers.stack import Stack


async def post_while_temporal_is_down(
    settings: Settings, broker: dict[str, Any], body: dict[str, Any]
) -> tuple[httpx.Response, dict[str, Any]]:
    """Posts an alert to an API process whose Temporal address answers nothing."""
    unreachable = settings.model_copy(update={"temporal_address": f"127.0.0.1:{free_port()}"})
    api_alone = Stack(unreachable, worker=False, port=0)
    await api_alone.start()
    try:
        async with httpx.AsyncClient(base_url=api_alone.url, timeout=10) as http:
            answer = await http.post(webhook_path(broker), json=body)
            health = (await http.get("/healthz")).json()
    finally:
        await api_alone.stop()
    return answer, health


async def backdate(stack: Stack, webhook_id: int, age: timedelta) -> None:
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        await session.execute(
            update(Webhook).where(Webhook.id == webhook_id).values(received_at=utcnow() - age)
        )


async def test_alert_survives_temporal_being_down(
    settings: Settings, stack: Stack, user: ApiUser, temporal_client: Client
) -> None:
    broker = await user.create_broker(balances={"USDT": "1000"})
    answer, health = await post_while_temporal_is_down(
        settings, broker, {"action": "BuyMarket", "symbol": "BTCUSDT"}
    )
    assert answer.status_code == 200 and answer.json()["status"] == "accepted"
    assert health["temporal"]["ok"] is False
    webhook_id = answer.json()["webhook_id"]
    waiting = (await user.http.get(f"/api/webhooks/{webhook_id}")).json()
    assert waiting["status"] == "received" and waiting["workflow_id"]

    # Temporal is back (any API process's sweeper does this every few seconds).
    await backdate(stack, webhook_id, timedelta(seconds=10))
    assert stack.runtime is not None
    starter = SignalStarter(
        stack.runtime.sessions, TemporalLink(settings, temporal_client), settings.task_queue
    )
    await starter.sweep()  # (the test stack's own sweeper may get there first: same result)
    done = await wait_webhook_done(user, webhook_id)
    assert done["status"] == "processed", done
    assert done["workflow_id"] == waiting["workflow_id"]
    # Sweeping again changes nothing: one workflow, one order.
    await starter.sweep()
    orders = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert orders["total"] == 1


async def test_a_stale_alert_is_not_traded(
    settings: Settings, stack: Stack, user: ApiUser, temporal_client: Client
) -> None:
    """An alert that waited longer than the limit (Temporal was down) is marked, not traded."""
    broker = await user.create_broker(balances={"USDT": "1000"})
    answer, _ = await post_while_temporal_is_down(
        settings, broker, {"action": "BuyMarket", "symbol": "ETHUSDT"}
    )
    webhook_id = answer.json()["webhook_id"]
    await backdate(stack, webhook_id, timedelta(minutes=11))
    assert stack.runtime is not None
    starter = SignalStarter(
        stack.runtime.sessions,
        TemporalLink(settings, temporal_client),
        settings.task_queue,
        max_delay=timedelta(minutes=10),
    )
    await starter.sweep()
    record = (await user.http.get(f"/api/webhooks/{webhook_id}")).json()
    assert record["status"] == "error"
    assert "not traded: the alert waited" in record["error"]
    orders = (await user.http.get("/api/orders", params={"broker_id": broker["id"]})).json()
    assert orders["total"] == 0
