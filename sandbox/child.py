"""The warm sandbox child: it locks itself down once, then forks a fresh process per call.

Started by the pool with a scrubbed environment and `python -I -B -c BOOT ROOT CONFIG`. Every
strategy call runs in its own forked process with memory and CPU limits and the audit hook armed,
so no call can leave anything behind for the next one (other users' strategies included), and the
warm child itself never runs user code. Requests and replies are JSON lines on stdin/stdout."""

import contextlib
import gc
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import resource
import select
import signal
import sys
import time
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from sandbox import guard, kernel

PROJECT_PACKAGES = ("strategies", "sandbox")
# Loaded before lockdown: strategies use them, and the files are read while reading is allowed
PRELOAD = (
    "numpy", "math", "statistics", "decimal", "fractions", "datetime", "json", "random",
    "collections", "itertools", "functools", "operator", "bisect", "heapq", "dataclasses",
    "enum", "typing", "re", "string", "traceback", "linecache", "copy", "zlib",
)  # fmt: skip
SYSTEM_LIBRARIES = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
MAX_RESULT = 8 << 20


class _ProjectFinder(importlib.abc.MetaPathFinder):
    """Finds only the project packages strategy code may use; the others stay out of reach."""

    def __init__(self, root: str) -> None:
        self.root = root

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname in PROJECT_PACKAGES:
            return importlib.machinery.PathFinder.find_spec(fullname, [self.root])
        return None


def _limit_imports(root: str) -> None:
    real = os.path.realpath(root)
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != real]
    # the editable install maps every project package: drop its finders
    sys.meta_path[:] = [
        f for f in sys.meta_path if not getattr(f, "__module__", "").startswith("__editable__")
    ]
    sys.path_hooks[:] = [
        h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")
    ]
    sys.path_importer_cache.clear()
    sys.meta_path.insert(0, _ProjectFinder(root))


def _readable(root: str) -> list[str]:
    """Directories strategy code may read: the standard library, the third-party packages loaded
    so far (numpy and what the SDK uses), and the project's strategies and sandbox packages."""
    base = os.path.realpath(sys.base_prefix)
    paths = {p for p in sys.path if os.path.isdir(p) and os.path.realpath(p).startswith(base)}
    site = {os.path.realpath(p) for p in sys.path if os.path.isdir(p)} - {
        os.path.realpath(p) for p in paths
    }
    for module in list(sys.modules.values()):
        for folder in getattr(module, "__path__", None) or ():
            folder = os.path.realpath(folder)
            if os.path.dirname(folder) in site:
                paths.add(folder)
                if os.path.isdir(folder + ".libs"):  # vendored shared libraries (numpy.libs)
                    paths.add(folder + ".libs")
    paths.update(os.path.join(root, name) for name in PROJECT_PACKAGES)
    return sorted(paths)


def _importable() -> set[str]:
    loaded = {name.partition(".")[0] for name in sys.modules}
    return (set(sys.stdlib_module_names) | loaded | set(PROJECT_PACKAGES)) - guard.DENIED_MODULES


def _warm_up(entry: ModuleType, path: str | None) -> None:
    """One decision with the project's example strategy (trusted code), so that lazy imports
    and first-use caches are done once here rather than in every forked call."""
    if not path:
        return
    with open(path) as handle:
        code = handle.read()
    candles = [[60_000 * i, 100.0, 101.0, 99.0, 100.0 + i % 7, 1.0] for i in range(120)]
    request = {
        "code": code,
        "candles": candles,
        "position": {"is_open": False, "qty": "0", "entry_price": None},
        "balance": "1000",
        "step": "0.00001",
    }
    entry.decide(request)
    entry.decide({**request, "position": {"is_open": True, "qty": "1", "entry_price": "100"}})


def _forget_denied_modules() -> None:
    # so that importing them again goes through the import event, which the hook refuses
    for name in list(sys.modules):
        if name.partition(".")[0] in guard.DENIED_MODULES:
            del sys.modules[name]


def _lines(fd: int) -> Iterator[bytes]:
    buffer = b""
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            yield line


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def main() -> None:
    root, config = sys.argv[1], json.loads(sys.argv[2])
    # keep the protocol pipes on private descriptors; user output goes nowhere
    requests, replies = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(2, 1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    kernel.die_with_parent()
    network = kernel.isolate_network()  # before any import can start a thread
    _limit_imports(root)
    for name in (*PRELOAD, config["entry"]):
        importlib.import_module(name)
    entry = sys.modules[config["entry"]]
    _warm_up(entry, config.get("warmup"))
    readable = _readable(root)
    importable = _importable()
    _forget_denied_modules()
    # nothing more from site-packages: what strategies may use is loaded
    sys.path[:] = [
        p for p in sys.path if os.path.realpath(p).startswith(os.path.realpath(sys.base_prefix))
    ]
    sys.path_importer_cache.clear()
    sys.meta_path.insert(0, guard.ImportGate())
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    files = kernel.restrict_files([*readable, *SYSTEM_LIBRARIES])
    guard.install(readable, importable)
    gc.collect()
    gc.freeze()  # forked calls then copy fewer pages
    hello = {"ready": True, "network_isolated": network, "files_isolated": files}
    _write_all(replies, json.dumps(hello).encode() + b"\n")
    for line in _lines(requests):
        message = json.loads(line)
        reply, leftover = _serve(message, entry, config, (requests, replies, devnull))
        reply["id"] = message["id"]
        _write_all(replies, json.dumps(reply).encode() + b"\n")
        if leftover:  # answered first; the process is only exiting by now
            _stop(leftover)


def _serve(
    message: dict[str, Any], entry: ModuleType, config: dict[str, Any], fds: tuple[int, int, int]
) -> tuple[dict[str, Any], int | None]:
    """Run one call in a forked process: what came of it, and the pid still to reap if any."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _run_call(message, entry, config, write_end, fds)
    os.close(write_end)
    try:
        return _outcome(pid, read_end, config)
    finally:
        os.close(read_end)


def _run_call(
    message: dict[str, Any],
    entry: ModuleType,
    config: dict[str, Any],
    result_fd: int,
    fds: tuple[int, int, int],
) -> None:
    """In the forked process: limit, arm the hook, call the strategy, write the result, exit."""
    try:
        requests, replies, devnull = fds
        os.close(requests)
        os.close(replies)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        os.setpgid(0, 0)  # one group, killed as a whole
        kernel.die_with_parent()
        memory = config["memory_mb"] << 20
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        usage = resource.getrusage(resource.RUSAGE_SELF)
        cpu = int(usage.ru_utime + usage.ru_stime) + config["cpu_seconds"]
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no effect for root, bars others
        sys.audit(guard.ARM_EVENT, result_fd)
        reply = _call(entry, message["function"], message["request"], config)
        try:
            data = json.dumps(reply, default=str).encode()
        except (MemoryError, RecursionError, ValueError, TypeError) as exc:
            data = json.dumps({"ok": False, "reason": _reason(exc, config)}).encode()
        _write_all(result_fd, data)
        os.close(result_fd)  # the answer is complete: the parent need not wait for the exit
    finally:
        os._exit(0)


def _call(
    entry: ModuleType, function: str, request: dict[str, Any], config: dict[str, Any]
) -> dict[str, Any]:
    try:
        return {"ok": True, "result": getattr(entry, function)(request)}
    except BaseException as exc:  # anything user code raises is the call's outcome
        return {"ok": False, "reason": _reason(exc, config)}


def _reason(exc: BaseException, config: dict[str, Any]) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, MemoryError):
            return f"stopped: used more than {config['memory_mb']} MiB of memory"
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    if "MemoryError" in text:
        return f"stopped: used more than {config['memory_mb']} MiB of memory"
    if isinstance(exc, SystemExit):
        return "stopped: the strategy called exit()"
    return text or type(exc).__name__


def _outcome(pid: int, read_end: int, config: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
    """Collect the forked process' result within the wall-clock limit, killing it past that."""
    deadline = time.monotonic() + config["wall_seconds"]
    timeout = f"stopped: exceeded its {config['wall_seconds']:g} s time limit"
    data = bytearray()
    while True:  # until the pipe closes: the result is complete or the process ended
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            _stop(pid)
            return _failed(timeout), None
        if not select.select([read_end], [], [], remaining)[0]:
            continue
        chunk = os.read(read_end, 1 << 16)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_RESULT:
            _stop(pid)
            return _failed("stopped: returned more than 8 MiB of data"), None
    try:
        reply = json.loads(data) if data else None
    except ValueError:  # cut short by a signal
        reply = None
    if isinstance(reply, dict):
        return reply, pid
    status = _wait(pid, deadline)
    if status is None:
        _stop(pid)
        return _failed(timeout), None
    return _failed(_death(status[1], status[2], config)), None


def _failed(reason: str) -> dict[str, Any]:
    return {"ok": False, "reason": reason}


def _wait(pid: int, deadline: float) -> tuple[int, int, Any] | None:
    """The exit of `pid` (pid, status, rusage), or None if it is still running at `deadline`."""
    try:
        pidfd: int | None = os.pidfd_open(pid)
    except OSError:  # kernels before 5.3: poll instead
        pidfd = None
    try:
        while (done := os.wait4(pid, os.WNOHANG))[0] == 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            if pidfd is None:
                time.sleep(min(remaining, 0.001))
            else:
                select.select([pidfd], [], [], remaining)
        return done
    finally:
        if pidfd is not None:
            os.close(pidfd)


def _stop(pid: int) -> None:
    """Kill the process and its group, and reap it."""
    _kill(pid)
    os.waitpid(pid, 0)


def _kill(pid: int) -> None:
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)


def _death(status: int, usage: Any, config: dict[str, Any]) -> str:
    cpu_limit = f"stopped: exceeded its {config['cpu_seconds']} s CPU-time limit"
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU or (
            number == signal.SIGKILL and usage.ru_utime + usage.ru_stime >= config["cpu_seconds"]
        ):
            return cpu_limit
        if number == signal.SIGKILL:
            return "stopped: killed by the system (SIGKILL), probably for using too much memory"
        name = signal.Signals(number).name if number in signal.valid_signals() else str(number)
        what = (signal.strsignal(number) or "killed").lower()
        return f"crashed: {what} ({name})"
    return f"crashed: exited with code {os.waitstatus_to_exitcode(status)} without a result"


if __name__ == "__main__":
    main()
