"""Runs the API server, a worker and/or the heartbeat in this process (used by `aristobot
dev`, `api`, `worker`, `heartbeat`, the tests and the benchmarks: one code path for all)."""

import asyncio
import contextlib
import signal
from collections.abc import Iterator

import uvicorn
from loguru import logger
from temporalio.client import Client
from temporalio.worker import Worker

from api.app import create_app
from config.settings import Settings
from market.heartbeat import Heartbeat
from workers.candle_sink import StrategyRunnerSink
from workers.runtime import Runtime
from workers.schedules import ensure_all
from workers.temporal import connect, ensure_search_attributes
from workers.worker import build_workers


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the process entry point owns them."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def connect_when_ready(settings: Settings, timeout: float | None = None) -> Client:
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    delay = 0.5
    while True:
        try:
            return await connect(settings)
        except Exception as exc:  # not up yet: wait and retry
            if deadline is not None and loop.time() > deadline:
                raise RuntimeError(
                    f"Temporal is not reachable at {settings.temporal_address}: {exc}"
                ) from exc
            logger.info("waiting for Temporal at {} ({})", settings.temporal_address, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


class Stack:
    def __init__(
        self,
        settings: Settings,
        *,
        api: bool = True,
        worker: bool = True,
        host: str | None = None,
        port: int | None = None,
        heartbeat: bool = False,
    ) -> None:
        self.settings = settings
        self.host = host or settings.host
        self.port = settings.port if port is None else port
        self._want_api, self._want_worker = api, worker
        self._want_heartbeat = heartbeat
        self.heartbeat: Heartbeat | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self.runtime: Runtime | None = None
        self.client: Client | None = None
        self.workers: list[Worker] = []
        self.server: _EmbeddedServer | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._probe: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self.runtime = Runtime.create(self.settings)
        self._probe = asyncio.create_task(self.runtime.prices.probe())
        if self._want_worker:
            self.client = await connect_when_ready(self.settings)
            await ensure_search_attributes(self.client, self.settings.temporal_namespace)
            self.workers = build_workers(self.client, self.runtime)
            await ensure_all(
                self.client,
                self.runtime.sessions,
                self.settings.task_queue,
                self.settings.reconcile_every,
            )
            self._tasks.extend(asyncio.create_task(worker.run()) for worker in self.workers)
        if self._want_heartbeat:
            sink = StrategyRunnerSink(self.settings, self.runtime.sessions, self.client)
            self.heartbeat = Heartbeat(self.settings, self.runtime.sessions, sink)
            self._heartbeat_task = asyncio.create_task(self.heartbeat.run())
            self._tasks.append(self._heartbeat_task)
        if self._want_api:
            app = create_app(self.runtime, self.client)
            config = uvicorn.Config(
                app,
                host=self.host,
                port=self.port,
                log_config=None,
                access_log=False,
                lifespan="on",
                ws="websockets-sansio",
                timeout_graceful_shutdown=5,
            )
            self.server = _EmbeddedServer(config)
            self._tasks.append(asyncio.create_task(self.server.serve()))
            while not self.server.started:
                if self._tasks[-1].done():
                    self._tasks[-1].result()  # raises the bind error
                    raise RuntimeError("the API server stopped during start-up")
                await asyncio.sleep(0.02)
            if self.port == 0:
                sockets = self.server.servers[0].sockets
                self.port = sockets[0].getsockname()[1]

    async def market_checked(self, timeout: float = 5.0) -> None:
        """Waits (a little) for the start-up market probe, so its result can be shown."""
        if self._probe is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._probe), timeout)

    async def wait(self) -> None:
        """Returns when any component stops (or raises its error)."""
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()

    async def wait_until(self, stop: asyncio.Event) -> None:
        """Returns when `stop` is set or a component stops (raising its error)."""
        waiter = asyncio.create_task(self.wait())
        stopper = asyncio.create_task(stop.wait())
        await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        stopper.cancel()
        if waiter.done():
            waiter.result()
        else:
            waiter.cancel()

    async def stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
        if self._heartbeat_task is not None:  # it runs until cancelled
            self._heartbeat_task.cancel()
        # Waits up to the graceful-shutdown timeout for in-flight activities.
        await asyncio.gather(*(w.shutdown() for w in self.workers), return_exceptions=True)
        for task in self._tasks:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, timeout=self.settings.worker_shutdown_grace + 10)
        if self._probe is not None:
            self._probe.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._probe
        if self.runtime is not None:
            await self.runtime.close()


def stop_on_signals() -> asyncio.Event:
    """An event set by SIGINT (Ctrl-C) or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
