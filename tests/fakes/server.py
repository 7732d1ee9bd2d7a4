"""Run an ASGI app on a loopback port inside the current event loop."""

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LoopbackServer:
    def __init__(self, app: Any) -> None:
        self._server = _QuietServer(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, access_log=False)
        )
        self._task: asyncio.Task[None] | None = None
        self.url = ""

    async def start(self) -> "LoopbackServer":
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._server.should_exit = True
        if self._task is not None:
            await self._task
