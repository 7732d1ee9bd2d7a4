"""POST /webhooks/tradingview/{token}: the TradingView alert endpoint (CONTRACT.md)."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.webhook_intake import Delivery, WebhookIntake, find_broker_by_token
from tradingview.payload import MAX_BODY_BYTES

router = APIRouter(tags=["tradingview"])


async def _read_capped(request: Request) -> tuple[bytes, int | None]:
    """The body up to the limit, and its full size when it was over (never all of it in
    memory: a huge body is counted, not kept)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size <= MAX_BODY_BYTES:
            chunks.append(chunk)
    body = b"".join(chunks)
    if size > MAX_BODY_BYTES:
        return body[:MAX_BODY_BYTES], size
    return body, None


@router.post("/webhooks/tradingview/{token}", response_model=None)
async def tradingview_webhook(token: str, request: Request) -> Response:
    intake: WebhookIntake = request.app.state.intake
    broker = await find_broker_by_token(request.app.state.runtime.sessions, token)
    if broker is None:
        return JSONResponse({"detail": "unknown webhook token"}, status_code=404)
    body, oversized = await _read_capped(request)
    answer = await intake.receive(
        broker,
        Delivery(
            body=body,
            content_type=request.headers.get("content-type"),
            remote_addr=request.client.host if request.client else None,
            oversized_bytes=oversized,
        ),
    )
    return JSONResponse(answer.body, status_code=answer.status_code)
