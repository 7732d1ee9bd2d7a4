"""The strategy sandbox: hostile strategies are stopped with a plain reason, the pool keeps
serving, and the child never sees the app's secrets.

The hostile strategies reach `os`, `open` and `importlib` through attributes of allowed modules
(`dataclasses.sys`, `dataclasses.builtins`), which the static validation lets through: the
sandbox, not the validation, is what has to stop them."""

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sandbox import SandboxLimits, StrategyFailed, StrategySandbox

SECRET = "sandbox-test-secret-value"
DATABASE_URL = "postgresql://aristobot:hunter2@db.internal/aristobot"
CANDLES = [
    [1_700_000_000_000 + 60_000 * i, 100.0, 106.0, 99.0, 100.0 + i % 5, 3.0] for i in range(60)
]
GOOD = """\
from strategies import Strategy, indicators


class Buyer(Strategy):
    def should_long(self) -> bool:
        return indicators.sma(self.closes, 5)[-1] > 0

    def go_long(self) -> None:
        self.buy = (self.qty_for(50), None)
"""


def hostile(body: str) -> str:
    """A strategy whose should_long() runs `body` (lines 8 onwards)."""
    return (
        "import dataclasses\n"
        "from strategies import Strategy\n"
        "\n"
        "\n"
        "class Hostile(Strategy):\n"
        "    def should_long(self) -> bool:\n"
        "        os = dataclasses.sys.modules['os']\n"
        + textwrap.indent(textwrap.dedent(body).strip(), " " * 8)
        + "\n        return False\n"
        "\n"
        "    def go_long(self) -> None:\n"
        "        self.buy = (1, None)\n"
    )


def request(code: str) -> dict[str, object]:
    return {
        "code": code,
        "candles": CANDLES,
        "position": {"is_open": False, "qty": "0", "entry_price": None},
        "pending_entry": False,
        "balance": "1000",
        "step": "0.00001",
        "stop_loss": None,
        "take_profit": None,
        "vars": {},
        "params": {},
    }


def namespaces_work() -> bool:
    tool = shutil.which("unshare")
    return tool is not None and subprocess.run([tool, "-rn", "true"]).returncode == 0


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[StrategySandbox]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARISTOBOT_SECRET_KEY", SECRET)
        patch.setenv("ARISTOBOT_DATABASE_URL", DATABASE_URL)
        sandbox = StrategySandbox(2, SandboxLimits(wall_seconds=2, cpu_seconds=5, memory_mb=512))
        await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.close()


@pytest.fixture(scope="module")
async def single() -> AsyncIterator[StrategySandbox]:
    """One child with a CPU-time limit below its wall-clock limit."""
    sandbox = StrategySandbox(1, SandboxLimits(wall_seconds=5, cpu_seconds=1, memory_mb=512))
    await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.close()


async def fails(sandbox: StrategySandbox, body: str) -> str:
    """The reason a strategy whose should_long() runs `body` is stopped."""
    with pytest.raises(StrategyFailed) as failure:
        await sandbox.call("decide", request(hostile(body)))
    # whatever happened, the pool goes on serving normal strategies
    assert (await sandbox.call("decide", request(GOOD)))["action"] == "buy"
    return failure.value.reason


async def test_a_normal_strategy_decides_in_a_warm_child(pool: StrategySandbox) -> None:
    decision = await pool.call("decide", request(GOOD))
    assert decision["action"] == "buy" and decision["quantity"]
    started = time.perf_counter()
    for _ in range(20):
        await pool.call("decide", request(GOOD))
    print(f"decide round trip: {(time.perf_counter() - started) / 20 * 1000:.1f} ms")
    checked = await pool.call("dry_run", request(GOOD))
    assert checked["problems"] == [] and checked["decisions"] > 0
    status = pool.status()
    assert status["size"] == 2 and status["alive"] == 2
    if namespaces_work():
        assert status["network_isolated"] is True


async def test_the_environment_holds_no_secrets(pool: StrategySandbox) -> None:
    reason = await fails(pool, "raise ValueError(repr(dict(os.environ)))")
    seen = json.loads(reason.split("ValueError: ", 1)[1].replace("'", '"'))
    assert set(seen) == {"PATH", "LANG", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                         "MKL_NUM_THREADS"}  # fmt: skip
    assert SECRET not in reason and "hunter2" not in reason


async def test_secret_files_cannot_be_read(pool: StrategySandbox, tmp_path: Path) -> None:
    key = tmp_path / "secret.key"
    key.write_text(SECRET)
    for path in (str(key), "/proc/self/environ", f"/proc/{os.getpid()}/environ", "/etc/passwd"):
        reason = await fails(pool, f"dataclasses.builtins.open({path!r}).read()")
        assert reason == f"blocked: tried to read a file outside the sandbox ({path})"
    reason = await fails(pool, f"raise ValueError(os.listdir({str(tmp_path)!r}))")
    assert reason == f"blocked: tried to list a directory outside the sandbox ({tmp_path})"
    target = tmp_path / "written"
    reason = await fails(pool, f"dataclasses.builtins.open({str(target)!r}, 'w').write('x')")
    assert reason == f"blocked: tried to write a file ({target})" and not target.exists()


async def test_no_network_connection_gets_out(pool: StrategySandbox) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        port = listener.getsockname()[1]
        code = f"""
        sockets = dataclasses.sys.modules['importlib'].import_module('socket')
        sockets.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak')
        """
        reason = await fails(pool, code)
        assert reason == "blocked: tried to open a network connection (import socket)"
        with pytest.raises(TimeoutError):
            listener.accept()


async def test_commands_are_not_run(pool: StrategySandbox, tmp_path: Path) -> None:
    marker = tmp_path / "x"
    reason = await fails(pool, f"os.system('touch {marker}')")
    assert reason == "blocked: tried to run a command (os.system)"
    # catching the refusal does not help: the strategy process ends on the spot
    reason = await fails(pool, f"try:\n    os.system('touch {marker}')\nexcept BaseException:\n"
                               "    pass\nreturn True")  # fmt: skip
    assert reason == "blocked: tried to run a command (os.system)"
    assert await fails(pool, "os.fork()") == "blocked: tried to start a process (os.fork)"
    reason = await fails(pool, "os.kill(os.getppid(), 9)")
    assert reason == "blocked: tried to send a signal to a process (os.kill)"
    assert not marker.exists()


async def test_other_project_packages_and_native_code_are_out_of_reach(
    pool: StrategySandbox,
) -> None:
    for name in ("config", "db", "workers", "subprocess", "ctypes"):
        reason = await fails(pool, f"dataclasses.sys.modules['importlib'].import_module('{name}')")
        assert reason.startswith("blocked: tried to") and f"import {name}" in reason


async def test_an_endless_loop_is_stopped_at_the_time_limit(pool: StrategySandbox) -> None:
    started = time.monotonic()
    reason = await fails(pool, "while True:\n    pass")
    assert reason == "stopped: exceeded its 2 s time limit"
    assert time.monotonic() - started < 2 + 1.5


async def test_cpu_time_is_limited(single: StrategySandbox) -> None:
    started = time.monotonic()
    reason = await fails(single, "while True:\n    pass")
    assert reason == "stopped: exceeded its 1 s CPU-time limit"
    assert time.monotonic() - started < 4


@pytest.mark.parametrize(
    "allocation",
    ["bytearray(4 * 1024**3)", "dataclasses.sys.modules['numpy'].ones(2**29)"],
)
async def test_a_4_gib_allocation_is_stopped(pool: StrategySandbox, allocation: str) -> None:
    reason = await fails(pool, f"hoard = {allocation}")
    assert reason == "stopped: used more than 512 MiB of memory"


async def test_crashes_are_reported(pool: StrategySandbox) -> None:
    assert await fails(pool, "os._exit(3)") == "crashed: exited with code 3 without a result"
    reason = await fails(pool, "os.abort()")
    assert reason == "crashed: aborted (SIGABRT)"
    reason = await fails(pool, "x = 1\nreturn x / 0")
    assert reason == "line 9: ZeroDivisionError: division by zero"


async def test_a_call_leaves_nothing_behind_for_the_next(single: StrategySandbox) -> None:
    code = GOOD.replace("return indicators", "indicators.sma = None\n        return indicators")
    with pytest.raises(StrategyFailed):  # its own call breaks...
        await single.call("decide", request(code))
    # ...but the same child serves the next call with the SDK as it was
    assert (await single.call("decide", request(GOOD)))["action"] == "buy"


async def test_a_dead_child_is_replaced(single: StrategySandbox) -> None:
    reason = await fails(single, "raise ValueError(os.getppid())")
    child = int(reason.rsplit(" ", 1)[1])
    restarts = single.status()["restarts"]
    os.kill(child, signal.SIGKILL)
    with pytest.raises(StrategyFailed) as failure:
        await single.call("decide", request(GOOD))
    assert failure.value.reason.startswith("crashed: the sandbox process stopped")
    assert (await single.call("decide", request(GOOD)))["action"] == "buy"
    assert single.status()["restarts"] == restarts + 1
    assert single.status()["alive"] == 1


async def test_a_cancelled_call_does_not_jam_the_pool(single: StrategySandbox) -> None:
    call = asyncio.create_task(single.call("decide", request(hostile("while True:\n    pass"))))
    await asyncio.sleep(0.3)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert (await single.call("decide", request(GOOD)))["action"] == "buy"


def test_the_kernel_holds_even_without_the_audit_hook(tmp_path: Path) -> None:
    """The namespace and Landlock alone stop a connection and a file read."""
    if not namespaces_work():
        pytest.skip("this platform forbids user namespaces")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        script = textwrap.dedent(f"""
            import os, socket, sys
            from sandbox import kernel
            assert kernel.isolate_network()
            files = kernel.restrict_files([os.path.dirname(os.__file__)])
            try:
                socket.create_connection(("127.0.0.1", {listener.getsockname()[1]}), timeout=1)
                print("connected")
            except OSError as exc:
                print("no connection:", exc.errno)
            try:
                open("/etc/passwd").read()
                print("read" if files else "no landlock")
            except PermissionError:
                print("no read")
        """)
        root = Path(__file__).resolve().parent.parent
        boot = f"import sys; sys.path.insert(0, {str(root)!r})\n"
        done = subprocess.run(
            [sys.executable, "-I", "-c", boot + script],
            capture_output=True, text=True, timeout=30, cwd=tmp_path,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = done.stdout.splitlines()
        assert lines[0].startswith("no connection") and lines[1] in ("no read", "no landlock")
        with pytest.raises(TimeoutError):
            listener.accept()
