"""One warm sandbox child, seen from the app: start it, send it calls, kill it.

The child gets a scrubbed environment (no ARISTOBOT_* settings, no database URL), an empty
working directory and no inherited descriptors but its three pipes."""

import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from sandbox.limits import SandboxLimits, StrategyFailed

ROOT = Path(__file__).resolve().parent.parent
BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from sandbox.child import main; main()"
ENVIRONMENT = {
    "PATH": "/usr/bin:/bin",
    "LANG": "C.UTF-8",
    # one BLAS thread: numpy then imports within the memory limit and forks cleanly
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
START_SECONDS = 60.0
# the child enforces the wall-clock limit itself; this is for a child that stopped answering
REPLY_GRACE_SECONDS = 2.0
MAX_LINE = 16 << 20
STDERR_TAIL = 4096


class Worker:
    def __init__(self, process: asyncio.subprocess.Process, limits: SandboxLimits) -> None:
        self.process = process
        self.limits = limits
        self.broken = False  # in doubt after a failure: replace it
        self.network_isolated = False
        self.files_isolated = False
        self._next_id = 0
        self._stderr = bytearray()
        self._drain = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def start(
        cls, limits: SandboxLimits, cwd: str, entry: str, warmup: str | None = None
    ) -> "Worker":
        config = {
            "entry": entry,
            "warmup": warmup,
            "wall_seconds": limits.wall_seconds,
            "cpu_seconds": limits.cpu_seconds,
            "memory_mb": limits.memory_mb,
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-B", "-c", BOOT, str(ROOT), json.dumps(config),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=ENVIRONMENT,
            cwd=cwd,
            start_new_session=True,  # no terminal signals from the app's process group
            limit=MAX_LINE,
        )  # fmt: skip
        worker = cls(process, limits)
        try:
            assert process.stdout is not None
            line = await asyncio.wait_for(process.stdout.readline(), START_SECONDS)
            hello = json.loads(line) if line else None
        except (TimeoutError, ValueError):
            hello = None
        if not isinstance(hello, dict) or not hello.get("ready"):
            await worker.kill()
            raise RuntimeError(f"the strategy sandbox did not start: {worker.diagnostics()}")
        worker.network_isolated = bool(hello["network_isolated"])
        worker.files_isolated = bool(hello["files_isolated"])
        return worker

    @property
    def alive(self) -> bool:
        return not self.broken and self.process.returncode is None

    def diagnostics(self) -> str:
        """The end of the child's stderr (its own errors: user code writes to /dev/null)."""
        text = self._stderr.decode(errors="replace").strip()
        if text:
            return text.splitlines()[-1]
        code = self.process.returncode
        if code is not None and code < 0 and -code in signal.valid_signals():
            return f"killed by {signal.Signals(-code).name}"
        return f"exit code {code}"

    async def call(self, function: str, request: dict[str, Any]) -> dict[str, Any]:
        self._next_id += 1
        message = {"id": self._next_id, "function": function, "request": request}
        line = json.dumps(message, default=str).encode() + b"\n"
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            self.process.stdin.write(line)
            await self.process.stdin.drain()
            raw = await asyncio.wait_for(
                self.process.stdout.readline(), self.limits.wall_seconds + REPLY_GRACE_SECONDS
            )
            reply = json.loads(raw) if raw else None
        except TimeoutError:
            await self._break()
            raise StrategyFailed(
                f"stopped: exceeded its {self.limits.wall_seconds:g} s time limit"
            ) from None
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            reply = None
        except BaseException:  # cancelled mid-call: the child's state is unknown
            await self._break()
            raise
        if not isinstance(reply, dict) or reply.get("id") != self._next_id:
            await self._break()
            raise StrategyFailed(
                f"crashed: the sandbox process stopped unexpectedly ({self.diagnostics()})"
            )
        if reply.get("ok"):
            result: dict[str, Any] = reply["result"]
            return result
        raise StrategyFailed(str(reply.get("reason") or "failed"))

    async def _break(self) -> None:
        self.broken = True
        await self.kill()

    async def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        await self.process.wait()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(self._drain, 1.0)

    async def stop(self) -> None:
        """End the child politely (end of input), or kill it if it does not go."""
        if self.process.stdin is not None:
            self.process.stdin.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), 2.0)
        await self.kill()

    async def _drain_stderr(self) -> None:
        # a child whose stderr pipe fills up would block
        assert self.process.stderr is not None
        while chunk := await self.process.stderr.read(1 << 16):
            self._stderr += chunk
            del self._stderr[:-STDERR_TAIL]
