"""The strategy sandbox: hostile strategies are stopped with a plain reason, the pool keeps
serving, the child never sees the app's secrets nor anything of another user's calls, and the
kernel (namespaces, Landlock, seccomp) holds where the audit hook would not.

The hostile strategies reach `os`, `open` and `importlib` through attributes of allowed modules
(`dataclasses.sys`, `dataclasses.builtins`), which the static validation lets through: the
sandbox, not the validation, is what has to stop them."""

import asyncio
import ctypes
import dis
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
import uuid
from collections.abc import AsyncIterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy
import pytest

from sandbox import SandboxLimits, StrategyFailed, StrategySandbox, child, guard, kernel
from sandbox import pool as pool_module

ROOT = Path(__file__).resolve().parent.parent

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


@cache
def namespaces_work() -> bool:
    tool = shutil.which("unshare")
    return tool is not None and subprocess.run([tool, "-rn", "true"]).returncode == 0


def run_isolated(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """`script` in a fresh isolated interpreter that can import the project; it must exit 0."""
    boot = f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
    done = subprocess.run(
        [sys.executable, "-I", "-c", boot + script],
        capture_output=True, text=True, timeout=30, cwd=cwd,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
async def pool() -> AsyncIterator[StrategySandbox]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ARISTOBOT_SECRET_KEY", SECRET)
        patch.setenv("ARISTOBOT_DATABASE_URL", DATABASE_URL)
        sandbox = StrategySandbox(
            2,
            SandboxLimits(wall_seconds=2, cpu_seconds=5, memory_mb=512),
            allow_weak=not namespaces_work(),
        )
        await sandbox.start()
    try:
        yield sandbox
    finally:
        await sandbox.close()


@pytest.fixture(scope="module")
async def single() -> AsyncIterator[StrategySandbox]:
    """One child with a CPU-time limit below its wall-clock limit."""
    sandbox = StrategySandbox(
        1,
        SandboxLimits(wall_seconds=5, cpu_seconds=1, memory_mb=512),
        allow_weak=not namespaces_work(),
    )
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
        assert status["files_isolated"] is True and status["seccomp"] is True


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
    """The namespace, Landlock and seccomp alone stop a connection, a file read, a process,
    a command and a signal to another process."""
    if not namespaces_work():
        pytest.skip("this platform forbids user namespaces")
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.2)
        script = textwrap.dedent(f"""
            import os, resource, socket, sys
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
            syscalls = kernel.syscall_filter()
            assert syscalls is not None and syscalls.load(os.getpid())
            for name, attempt in [
                ("socket", lambda: socket.socket(socket.AF_UNIX)),
                ("fork", os.fork),
                ("exec", lambda: os.execv("/bin/true", ["true"])),
                ("signal", lambda: os.kill(os.getppid(), 0)),
                ("write", lambda: os.open("x", os.O_WRONLY | os.O_CREAT)),
                ("chmod", lambda: os.chmod(".", 0o777)),  # Landlock leaves modes alone
                ("limit", lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (9, 9))),
            ]:
                try:
                    attempt()
                    print(name, "allowed")
                except PermissionError as exc:
                    print(name, "refused", exc.errno)
                except ValueError:  # how setrlimit reports EPERM
                    print(name, "refused", 1)
            os.kill(os.getpid(), 0)  # its own pid it may signal (abort() does)
            resource.getrlimit(resource.RLIMIT_NOFILE)  # limits it may read
        """)
        done = run_isolated(script, tmp_path)
        lines = done.stdout.splitlines()
        assert lines[0].startswith("no connection") and lines[1] in ("no read", "no landlock")
        refused = ("socket", "fork", "exec", "signal", "write", "chmod", "limit")
        assert lines[2:] == [f"{name} refused 1" for name in refused]
        with pytest.raises(TimeoutError):
            listener.accept()
        assert not (tmp_path / "x").exists() and tmp_path.stat().st_mode & 0o777 != 0o777


def test_the_seccomp_filter_has_the_kernels_syscall_numbers() -> None:
    """The filter's tables, written out by hand, match libseccomp's for each machine."""
    try:
        library = ctypes.CDLL("libseccomp.so.2")
    except OSError:
        pytest.skip("libseccomp is not installed")
    library.seccomp_arch_resolve_name.restype = ctypes.c_uint32
    for machine, numbers in kernel.SYSCALL_NUMBERS.items():
        arch = library.seccomp_arch_resolve_name(machine.encode())
        assert arch == kernel.AUDIT_ARCH[machine]
        for name, number in numbers.items():
            assert library.seccomp_syscall_resolve_name_arch(arch, name.encode()) == number, name
        missing = {*kernel.DENIED_SYSCALLS, *kernel.OWN_PID_SYSCALLS} - set(numbers)
        for name in missing:  # only calls this machine does not have
            assert library.seccomp_syscall_resolve_name_arch(arch, name.encode()) < 0, name


async def test_no_call_leaves_its_code_or_reply_in_the_warm_childs_memory(
    single: StrategySandbox,
) -> None:
    """Every call is forked from the warm child with a copy of its memory, so what one user's
    call sent or got back must not be anywhere in it afterwards (the zygote discipline), or a
    later call that gets past the hook could read it with ctypes. Read the warm child's memory
    from outside, as such a call would from inside."""
    marker = f"user-a-strategy-{uuid.uuid4().hex}"
    code = GOOD.replace(
        "return indicators", f"self.vars['note'] = {marker!r}[::-1]\n        return indicators"
    )
    code += f"# {marker}\n" + "# filler\n" * 5000  # longer than the next caller's request
    decision = await single.call("decide", request(code))
    assert decision["vars"]["note"] == marker[::-1]  # the reply held it too
    await single.call("decide", request(GOOD))  # another user
    worker = next(iter(single._workers))
    try:
        memory = read_memory(worker.process.pid)
    except PermissionError:
        pytest.skip("this test process may not read the sandbox child's memory")
    assert marker.encode() not in memory and marker[::-1].encode() not in memory
    assert b"user-a-strategy-" not in memory


def read_memory(pid: int) -> bytes:
    """All the readable memory of process `pid`."""
    chunks = []
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as memory:
        for line in maps:
            fields = line.split()
            if "r" not in fields[1] or fields[-1] in ("[vvar]", "[vvar_vclock]", "[vsyscall]"):
                continue
            low, high = (int(bound, 16) for bound in fields[0].split("-"))
            try:
                memory.seek(low)
                chunks.append(memory.read(high - low))
            except (OSError, ValueError, OverflowError):
                continue  # guard pages and the like
    return b"".join(chunks)


def test_the_request_and_reply_buffers_read_as_zeros_once_wiped() -> None:
    buffers = child.Buffers()
    buffers.request[: 5 << 20] = b"secret strategy" * ((5 << 20) // 15) + b"x" * ((5 << 20) % 15)
    buffers.wipe(buffers.request, 5 << 20)
    assert buffers.request.find(b"secret") == -1 and buffers.request[:4096] == bytes(4096)
    pid = os.fork()  # private pages: what the fork writes stays in the fork
    if pid == 0:
        buffers.reply[:6] = b"secret"
        os._exit(0)
    os.waitpid(pid, 0)
    assert buffers.reply[:6] == bytes(6)


async def test_the_audit_hook_cannot_be_switched_off(pool: StrategySandbox) -> None:
    """Rewriting the code or the globals the hook might rely on does not open the way."""
    replace_code = """
    trap = dataclasses.builtins.getattr(lambda: None, '_' + '_code__')
    dataclasses.builtins.setattr(dataclasses.sys.modules['sandbox.guard'].install,
                                 '_' + '_code__', trap)
    """
    reason = await fails(pool, replace_code)
    assert reason == "blocked: tried to tamper with the sandbox (changing __code__)"
    reason = await fails(pool, replace_code.replace("dataclasses.sys.modules['sandbox.guard']"
                                                    ".install", "os.path.realpath"))  # fmt: skip
    assert reason == "blocked: tried to tamper with the sandbox (changing __code__)"
    reason = await fails(
        pool,
        """
    guard = dataclasses.sys.modules['sandbox.guard']
    guard.COMMANDS = guard.FILE_CHANGES = guard.TAMPERING = frozenset()
    guard.os = guard.sys = None
    dataclasses.builtins.isinstance = lambda *args: True
    dataclasses.builtins.OSError = dataclasses.builtins.ValueError = KeyError
    os.path.realpath = os.path.abspath = lambda path: '/usr/lib'
    os.path.exists = os.fsdecode = lambda path: False
    dataclasses.sys.modules['json'].dumps = None
    dataclasses.builtins.open('/etc/passwd').read()
    """,
    )
    assert reason == "blocked: tried to read a file outside the sandbox (/etc/passwd)"
    reason = await fails(pool, "dataclasses.builtins.setattr(os, '_' + '_class__', type(os))")
    assert reason == "blocked: tried to tamper with the sandbox (changing __class__)"
    reason = await fails(
        pool,
        """
    defaults = dataclasses.sys.modules['json'].dumps
    dataclasses.builtins.setattr(defaults, '_' + '_kwdefaults__', None)
    """,
    )
    assert reason == "blocked: tried to tamper with the sandbox (changing __kwdefaults__)"
    reason = await fails(pool, "dataclasses.builtins.setattr(os.PathLike, '_' + '_bases__', ())")
    assert reason == "blocked: tried to tamper with the sandbox (changing __bases__)"
    gc = "dataclasses.sys.modules['importlib'].import_module('gc').get_referrers(os)"
    assert await fails(pool, gc) == "blocked: tried to tamper with the sandbox (gc.get_referrers)"
    reason = await fails(pool, "for depth in range(1, 60):\n    dataclasses.sys._getframe(depth)")
    assert reason == "blocked: tried to tamper with the sandbox (sys._getframe)"


def test_the_hook_reads_no_global_name() -> None:
    """Module globals and builtins can be rebound by user code: the hook and its helpers
    use only the values captured in their closure when it was installed."""

    def functions(code: types.CodeType) -> list[types.CodeType]:
        found = []
        for constant in code.co_consts:
            if isinstance(constant, types.CodeType):
                found += [constant, *functions(constant)]
        return found

    nested = {c.co_name: c for c in functions(guard.install.__code__) if c.co_name[0] != "<"}
    assert {"hook", "check", "real", "inside", "text"} <= set(nested)
    for name, code in nested.items():
        names = [i.argval for i in dis.get_instructions(code) if "GLOBAL" in i.opname or
                 i.opname in ("LOAD_NAME", "STORE_NAME")]  # fmt: skip
        assert names == [], f"{name} uses globals {names}"


async def test_strategies_may_use_the_standard_library_freely(pool: StrategySandbox) -> None:
    """What the hook and the seccomp filter refuse leaves normal strategy code alone:
    namedtuples and TypeVars (they look at their caller's frame), dataclasses, enums, numpy's
    random numbers (imported on first use) and matrix products (BLAS)."""
    code = textwrap.dedent("""\
        import collections
        import dataclasses
        import enum
        import typing

        import numpy as np

        from strategies import Strategy

        Point = collections.namedtuple("Point", "x y", defaults=(0,))
        T = typing.TypeVar("T")
        Mode = enum.Enum("Mode", "FAST SLOW")


        class Band(typing.NamedTuple):
            low: float
            high: float = 0.0


        @dataclasses.dataclass(frozen=True)
        class Setting:
            period: int = 5


        class Side(enum.Enum):
            LONG = 1


        class Mixed(Strategy):
            def should_long(self) -> bool:
                rng = np.random.default_rng(1)
                product = rng.random((64, 64)) @ rng.random((64, 64))
                checks = (Point(1).y == 0, Band(1.0).high == 0.0, Setting().period == 5)
                return bool(product.sum() > 0) and all(checks) and Side.LONG.value == 1

            def go_long(self) -> None:
                self.buy = (self.qty_for(50), None)
        """)
    assert (await pool.call("decide", request(code)))["action"] == "buy"
    checked = await pool.call("dry_run", request(code))
    assert checked["problems"] == [] and checked["decisions"] > 0


async def test_seccomp_refuses_what_the_hook_lets_through(pool: StrategySandbox) -> None:
    """Threads and the like raise no audit event: the kernel filter refuses them."""
    if not pool.status()["seccomp"]:
        pytest.skip("this platform has no seccomp")
    thread = "dataclasses.sys.modules['importlib'].import_module('threading')"
    reason = await fails(pool, f"{thread}.Thread(target=print).start()")
    assert reason == "line 8: RuntimeError: can't start new thread"
    reason = await fails(pool, "os.memfd_create('hidden')")
    assert reason == "line 8: PermissionError: [Errno 1] Operation not permitted"


async def test_a_strategy_cannot_answer_for_later_calls(single: StrategySandbox) -> None:
    """A strategy process that writes frames of its own to its result pipe (more than one,
    or one cut short) cannot put words in the mouth of the calls that follow."""
    restarts = single.status()["restarts"]
    forge = """
    for fd in range(3, 64):
        try:
            os.fstat(fd)
        except OSError:
            continue
        break
    forged = b'{"ok": true, "result": {"action": "sell"}}'
    os.write(fd, (len(forged).to_bytes(4, 'big') + bytes(4) + forged) * 5)
    os._exit(0)
    """
    answer = await single.call("decide", request(hostile(forge)))
    assert answer == {"action": "sell"}  # its own call: it may answer what it likes
    for _ in range(3):
        assert (await single.call("decide", request(GOOD)))["action"] == "buy"
    cut_short = forge.replace("+ forged) * 5", "+ forged)[:20]")
    reason = await fails(single, cut_short)
    assert reason == "crashed: exited with code 0 without a result"
    reason = await fails(single, forge.replace("forged = b'", "forged = b'not json"))
    assert reason == "crashed: the strategy process returned an unreadable answer"
    assert single.status()["restarts"] == restarts  # the child was never out of step


async def test_the_pool_refuses_to_start_without_kernel_isolation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Unisolated:
        network_isolated, files_isolated, seccomp, alive = True, False, False, True

        @classmethod
        async def start(cls, *args: Any) -> "Unisolated":
            return cls()

        async def stop(self) -> None:
            pass

    monkeypatch.setattr(pool_module, "Worker", Unisolated)
    strict = StrategySandbox(1)
    with pytest.raises(RuntimeError) as refused:
        await strict.start()
    assert str(refused.value) == (
        "the strategy sandbox needs Linux user+network namespaces, Landlock and seccomp: "
        "this system lacks Landlock and seccomp; set ARISTOBOT_SANDBOX_ALLOW_WEAK=1 to run "
        "strategies with the audit hook only (unsafe with untrusted users)"
    )
    weak = StrategySandbox(1, allow_weak=True)
    await weak.start()
    try:
        status = weak.status()
        assert status["network_isolated"] is True
        assert status["files_isolated"] is False and status["seccomp"] is False
    finally:
        await weak.close()


def test_the_settings_pass_weak_isolation_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from config.settings import Settings
    from workers.runtime import LazySandbox

    monkeypatch.delenv("ARISTOBOT_SANDBOX_ALLOW_WEAK", raising=False)
    assert Settings().sandbox_allow_weak is False
    monkeypatch.setenv("ARISTOBOT_SANDBOX_ALLOW_WEAK", "1")
    settings = Settings()
    assert settings.sandbox_allow_weak is True
    made: list[dict[str, Any]] = []

    class Recorder:
        def __init__(self, **kwargs: Any) -> None:
            made.append(kwargs)

        async def start(self) -> None:
            pass

    monkeypatch.setattr(pool_module, "StrategySandbox", Recorder)
    asyncio.run(LazySandbox(settings)._start())
    assert made[0]["allow_weak"] is True


def test_a_site_packages_install_imports_numpy_and_not_the_app(tmp_path: Path) -> None:
    """Installed with `pip install .` (not editable) the project's packages sit in
    site-packages next to numpy: strategies get numpy, and still not the app's packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", tmp_path / "venv"], check=True)
    (site,) = (tmp_path / "venv" / "lib").glob("python*/site-packages")
    for package in ("sandbox", "strategies", "config", "db"):
        shutil.copytree(ROOT / package, site / package, ignore=shutil.ignore_patterns("__py*"))
    numpy_dir = Path(numpy.__file__).parent
    for folder in (numpy_dir, numpy_dir.with_name("numpy.libs")):
        if folder.exists():
            (site / folder.name).symlink_to(folder)
    script = textwrap.dedent("""
        import asyncio, json, sys
        from sandbox.limits import SandboxLimits, StrategyFailed
        from sandbox.worker import ROOT, Worker

        async def main(cwd, requests):
            worker = await Worker.start(SandboxLimits(), cwd, "strategies.live", allow_weak=True)
            answers = [str(ROOT)]
            for request in requests:
                try:
                    answers.append((await worker.call("decide", request))["action"])
                except StrategyFailed as failure:
                    answers.append(failure.reason)
            await worker.stop()
            print(json.dumps(answers))

        asyncio.run(main(sys.argv[1], json.loads(sys.argv[2])))
    """)
    imports_config = hostile("dataclasses.sys.modules['importlib'].import_module('config')")
    requests = json.dumps([request(GOOD), request(imports_config)])
    done = subprocess.run(
        [tmp_path / "venv" / "bin" / "python", "-I", "-c", script, tmp_path, requests],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [str(site), "buy", "blocked: tried to import config"]


def test_site_packages_beneath_the_standard_library_stay_unreadable(tmp_path: Path) -> None:
    """As in Docker's python image (/usr/local/lib/python3.11/site-packages): the standard
    library's directory is split so that its site-packages is left out."""
    home = tmp_path / "lib" / "python3.11"
    for path in ("os.py", "json/__init__.py", "lib-dynload/x.so", "site-packages/config/a.py"):
        (home / path).parent.mkdir(parents=True, exist_ok=True)
        (home / path).write_text("")
    sites = {str(home / "site-packages")}
    readable, listable = child._without_sites([str(home), str(home / "lib-dynload")], sites)
    assert readable == {str(home / "os.py"), str(home / "json"), str(home / "lib-dynload")}
    assert listable == {str(home)}
    readable, listable = child._without_sites([str(tmp_path / "lib")], sites)
    assert listable == {str(tmp_path / "lib"), str(home)} and str(home / "json") in readable


def test_processes_a_call_leaves_behind_are_killed(tmp_path: Path) -> None:
    """Were a call able to start a process that outlives it (seccomp stops that), the warm
    child, their subreaper, finds and kills it after the call, with /proc opened before
    Landlock closed it."""
    script = textwrap.dedent("""
        import os, sys, time
        from sandbox import child, kernel
        processes = child._open_processes()
        assert kernel.become_subreaper()
        kernel.restrict_files([os.path.dirname(os.__file__)])
        read_end, write_end = os.pipe()
        call = os.fork()
        if call == 0:  # the call: starts a process in a session of its own, and ends
            if os.fork() == 0:
                os.setsid()
                os.write(write_end, str(os.getpid()).encode())
                time.sleep(60)
            os._exit(0)
        os.waitpid(call, 0)
        left = int(os.read(read_end, 20))
        os.kill(left, 0)  # still running
        warm = child.Child.__new__(child.Child)
        warm.processes = processes
        warm.sweep()
        try:
            os.kill(left, 0)
            print("left running")
        except ProcessLookupError:
            print("killed")
    """)
    done = run_isolated(script, tmp_path)
    assert done.stdout.split() == ["killed"]
