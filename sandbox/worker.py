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
from sandbox.protocol import HEADER, HELLO_ID, MAX_REQUEST, MAX_RESULT

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
STDERR_TAIL = 4096


class Worker:
    def __init__(self, process: asyncio.subprocess.Process, limits: SandboxLimits) -> None:
        self.process = process
        self.limits = limits
        self.broken = False  # in doubt after a failure: replace it
        self.network_isolated = False
        self.files_isolated = False
        self.seccomp = False
        self._next_id = HELLO_ID
        self._stderr = bytearray()
        self._drain = asyncio.create_task(self._drain_stderr())

    @classmethod
    async def start(
        cls,
        limits: SandboxLimits,
        cwd: str,
        entry: str,
        warmup: str | None = None,
        allow_weak: bool = False,
    ) -> "Worker":
        config = {
            "entry": entry,
            "warmup": warmup,
            "allow_weak": allow_weak,
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
        )  # fmt: skip
        worker = cls(process, limits)
        try:
            hello = await asyncio.wait_for(worker._read_frame(HELLO_ID), START_SECONDS)
        except (TimeoutError, ValueError, asyncio.IncompleteReadError):
            hello = None
        if not isinstance(hello, dict) or not hello.get("ready"):
            await worker.kill()
            raise RuntimeError(f"the strategy sandbox did not start: {worker.diagnostics()}")
        worker.network_isolated = bool(hello["network_isolated"])
        worker.files_isolated = bool(hello["files_isolated"])
        worker.seccomp = bool(hello["seccomp"])
        return worker

    async def _read_frame(self, call_id: int) -> Any:
        """The payload of the child's next frame, parsed; ValueError if the frame is not the
        answer to `call_id` (the stream is then out of step: the child must go)."""
        assert self.process.stdout is not None
        header = await self.process.stdout.readexactly(HEADER.size)
        length, answered = HEADER.unpack(header)
        if answered != call_id or length > MAX_RESULT:
            raise ValueError("frame out of step")
        payload = await self.process.stdout.readexactly(length)
        try:
            return json.loads(payload)
        except ValueError:  # a whole frame: the stream is fine, the strategy's answer is not
            return None

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
        payload = json.dumps({"function": function, "request": request}, default=str).encode()
        if len(payload) > MAX_REQUEST:
            raise StrategyFailed("the request is too large (more than 16 MiB)")
        self._next_id = self._next_id % 0xFFFFFFFF + 1  # 32 bits, never HELLO_ID
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(HEADER.pack(len(payload), self._next_id) + payload)
            await self.process.stdin.drain()
            reply = await asyncio.wait_for(
                self._read_frame(self._next_id), self.limits.wall_seconds + REPLY_GRACE_SECONDS
            )
        except TimeoutError:
            await self._break()
            raise StrategyFailed(
                f"stopped: exceeded its {self.limits.wall_seconds:g} s time limit"
            ) from None
        except (OSError, ValueError, asyncio.IncompleteReadError):
            await self._break()
            raise StrategyFailed(
                f"crashed: the sandbox process stopped unexpectedly ({self.diagnostics()})"
            ) from None
        except BaseException:  # cancelled mid-call: the child's state is unknown
            await self._break()
            raise
        # a whole frame came back: the child is fine, whatever the strategy process wrote in it
        if isinstance(reply, dict) and reply.get("ok") is True:
            result = reply.get("result")
            if isinstance(result, dict):
                return result
        elif isinstance(reply, dict) and reply.get("ok") is False:
            raise StrategyFailed(str(reply.get("reason") or "failed"))
        raise StrategyFailed("crashed: the strategy process returned an unreadable answer")

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
