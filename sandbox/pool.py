"""The pool of warm sandbox children that strategy calls are spread over.

A call takes an idle child, so a hanging strategy holds one child for at most its time limit
while the others go on. A child left in doubt by a failure is killed and replaced in the
background; the failure reaches the caller as StrategyFailed and nothing else.

The pool refuses to start where the kernel cannot isolate the children (network namespace,
Landlock, seccomp), unless weak isolation is allowed explicitly (`allow_weak`): the audit hook
alone does not hold against a determined strategy."""

import asyncio
import shutil
import tempfile
from typing import Any

from loguru import logger

from sandbox.limits import SandboxLimits, StrategyFailed
from sandbox.worker import ROOT, Worker

FUNCTIONS = frozenset({"decide", "dry_run"})
ENTRY = "strategies.live"
# trusted project code that each child runs once at start, to warm up before forking calls
WARMUP = ROOT / "strategies" / "examples" / "sma_cross.py"
RESPAWN_DELAY_SECONDS = 1.0
LAYERS = {"network_isolated": "user+network namespaces", "files_isolated": "Landlock",
          "seccomp": "seccomp"}  # fmt: skip


class IsolationUnavailable(RuntimeError):
    """The kernel cannot isolate strategy code here, and weak isolation is not allowed."""


class StrategySandbox:
    def __init__(
        self, size: int = 2, limits: SandboxLimits = SandboxLimits(), allow_weak: bool = False
    ) -> None:
        if size < 1:
            raise ValueError("a strategy sandbox needs at least one process")
        self.size = size
        self.limits = limits
        self.allow_weak = allow_weak
        self.entry = ENTRY
        self.warmup = str(WARMUP) if WARMUP.is_file() else None
        self._idle: asyncio.Queue[Worker | None] = asyncio.Queue()
        self._waiting = 0
        self._workers: set[Worker] = set()
        self._respawning: set[asyncio.Task[None]] = set()
        self._cwd: str | None = None
        self._closed = False
        self._restarts = 0

    async def start(self) -> None:
        self._cwd = tempfile.mkdtemp(prefix="aristobot-sandbox-")
        results = await asyncio.gather(
            *(self._spawn() for _ in range(self.size)), return_exceptions=True
        )
        failure = next((r for r in results if isinstance(r, BaseException)), None)
        if failure is not None:
            await self.close()
            raise failure

    async def close(self) -> None:
        self._closed = True
        for _ in range(self._waiting):
            self._idle.put_nowait(None)
        for task in list(self._respawning):
            task.cancel()
        await asyncio.gather(*self._respawning, return_exceptions=True)
        await asyncio.gather(*(w.stop() for w in list(self._workers)), return_exceptions=True)
        self._workers.clear()
        if self._cwd is not None:
            shutil.rmtree(self._cwd, ignore_errors=True)
            self._cwd = None

    async def call(self, function: str, request: dict[str, Any]) -> dict[str, Any]:
        if function not in FUNCTIONS:
            raise ValueError(f"unknown strategy function {function!r}")
        if self._closed or self._cwd is None:
            raise RuntimeError("the strategy sandbox is not running")
        self._waiting += 1
        try:
            worker = await self._idle.get()
        finally:
            self._waiting -= 1
        if worker is None:  # closed while waiting
            raise RuntimeError("the strategy sandbox is not running")
        try:
            return await worker.call(function, request)
        finally:
            if worker.alive:
                self._idle.put_nowait(worker)
            else:
                self._replace(worker)

    def status(self) -> dict[str, Any]:
        workers = [w for w in self._workers if w.alive]
        return {
            "size": self.size,
            "alive": len(workers),
            "network_isolated": bool(workers) and all(w.network_isolated for w in workers),
            "files_isolated": bool(workers) and all(w.files_isolated for w in workers),
            "seccomp": bool(workers) and all(w.seccomp for w in workers),
            "allow_weak": self.allow_weak,
            "restarts": self._restarts,
        }

    async def _spawn(self) -> None:
        assert self._cwd is not None
        worker = await Worker.start(
            self.limits, self._cwd, self.entry, self.warmup, self.allow_weak
        )
        missing = [name for key, name in LAYERS.items() if not getattr(worker, key)]
        if missing and not self.allow_weak:
            await worker.stop()
            names = " and ".join([", ".join(missing[:-1]), missing[-1]] if missing[1:] else missing)
            raise IsolationUnavailable(
                "the strategy sandbox needs Linux user+network namespaces, Landlock and "
                f"seccomp: this system lacks {names}; set "
                "ARISTOBOT_SANDBOX_ALLOW_WEAK=1 to run strategies with the audit hook only "
                "(unsafe with untrusted users)"
            )
        if missing:
            logger.warning(
                "strategy sandbox: running without {} (weak isolation allowed)", ", ".join(missing)
            )
        if self._closed:
            await worker.stop()
            return
        self._workers.add(worker)
        self._idle.put_nowait(worker)

    def _replace(self, worker: Worker) -> None:
        self._workers.discard(worker)
        if self._closed:
            return
        self._restarts += 1
        task = asyncio.create_task(self._respawn(worker))
        self._respawning.add(task)
        task.add_done_callback(self._respawning.discard)

    async def _respawn(self, old: Worker) -> None:
        await old.kill()
        while not self._closed:
            try:
                await self._spawn()
                return
            except Exception as exc:  # keep trying: calls wait for a child meanwhile
                logger.warning("strategy sandbox: could not restart a child: {}", exc)
                await asyncio.sleep(RESPAWN_DELAY_SECONDS)


__all__ = ["IsolationUnavailable", "SandboxLimits", "StrategyFailed", "StrategySandbox"]
