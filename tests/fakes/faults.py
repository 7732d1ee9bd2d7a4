"""Fault injection shared by the fake exchange servers, as an ASGI middleware.

A test arms faults on `Faults`; the next matching request gets them:
- latency: sleep, then answer normally;
- error_5xx: answer 5xx without touching the exchange's state;
- accept_then_timeout: execute the request, then hold the answer back (the client times out
  although the order exists);
- accept_then_5xx: execute the request, then answer 5xx instead of its result;
- rate_limit: 429 with Retry-After and the exchange's own error body;
- reject: the exchange's own refusal of an order for insufficient funds (its status and
  body, as for a real unfunded order), without touching its state.
Every request is logged (method, path, monotonic time) so tests can measure retry waits.
Clock skew is read by each fake when it checks timestamps and answers server time."""

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

FaultKind = Literal[
    "latency", "error_5xx", "accept_then_timeout", "accept_then_5xx", "rate_limit", "reject"
]


@dataclass
class Fault:
    kind: FaultKind
    method: str
    path: str  # exact request path, e.g. /api/v3/order
    times: int = 1
    seconds: float = 0.0  # latency, or how long accept_then_timeout holds the answer
    retry_after: int = 2
    status: int = 503


@dataclass
class RequestLog:
    method: str
    path: str
    at: float  # time.monotonic()
    status: int = 0


@dataclass
class Faults:
    armed: list[Fault] = field(default_factory=list)
    log: list[RequestLog] = field(default_factory=list)
    # Added to the fake's clock: the exchange's time runs this far ahead of ours.
    clock_skew_ms: int = 0

    def arm(self, kind: FaultKind, method: str, path: str, **options: Any) -> Fault:
        fault = Fault(kind=kind, method=method.upper(), path=path, **options)
        self.armed.append(fault)
        return fault

    def clear(self) -> None:
        self.armed.clear()
        self.log.clear()
        self.clock_skew_ms = 0

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_skew_ms

    def requests(self, method: str, path: str) -> list[RequestLog]:
        return [r for r in self.log if r.method == method.upper() and r.path == path]

    def take(self, method: str, path: str) -> Fault | None:
        for fault in self.armed:
            if fault.method == method and fault.path == path and fault.times > 0:
                fault.times -= 1
                if fault.times == 0:
                    self.armed.remove(fault)
                return fault
        return None


class FaultMiddleware:
    """Wraps a fake exchange app. `rate_limit_body`, `error_body` and `reject` (HTTP status
    and body of an insufficient-funds refusal) give the exchange's own JSON error shapes."""

    def __init__(
        self,
        app: Any,
        faults: Faults,
        *,
        rate_limit_body: dict[str, Any],
        error_body: dict[str, Any],
        reject: tuple[int, dict[str, Any]],
    ) -> None:
        self.app = app
        self.faults = faults
        self.rate_limit_body = rate_limit_body
        self.error_body = error_body
        self.reject = reject

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        entry = RequestLog(scope["method"], scope["path"], time.monotonic())
        self.faults.log.append(entry)
        fault = self.faults.take(scope["method"], scope["path"])

        async def logged_send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
            await send(message)

        if fault is None:
            await self.app(scope, receive, logged_send)
            return
        if fault.kind == "latency":
            await asyncio.sleep(fault.seconds)
            await self.app(scope, receive, logged_send)
        elif fault.kind == "error_5xx":
            await _json(logged_send, fault.status, self.error_body)
        elif fault.kind == "reject":
            await _json(logged_send, *self.reject)
        elif fault.kind == "rate_limit":
            await _json(
                logged_send,
                429,
                self.rate_limit_body,
                headers=[(b"retry-after", str(fault.retry_after).encode())],
            )
        else:
            await self.app(scope, receive, _discard)  # the exchange executes it
            if fault.kind == "accept_then_timeout":
                await asyncio.sleep(fault.seconds)
            await _json(logged_send, fault.status, self.error_body)


async def _discard(message: dict[str, Any]) -> None:
    return None


async def _json(
    send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})
