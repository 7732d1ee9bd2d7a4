"""The warm sandbox child: it locks itself down once, then forks a fresh process per call.

Started by the pool with a scrubbed environment and `python -I -B -c BOOT ROOT CONFIG`. Every
strategy call runs in its own forked process with memory and CPU limits, a seccomp filter and
the audit hook armed, so no call can leave anything behind for the next one, and the warm child
itself never runs user code.

Zygote discipline: a forked call starts with a copy of all of the warm child's memory, so the
warm child keeps nothing of any call in it. It never parses a request or a reply (they hold
users' code and results); it only moves their bytes between the pipes and two fixed buffers,
and wipes each before the next fork: the request's as soon as the call is forked (the call has
its own copy), the reply's once relayed. Only the forked process parses its request. Frames
are length-prefixed (protocol.py): the warm child relays exactly one per request."""

import contextlib
import gc
import importlib
import importlib.abc
import importlib.machinery
import json
import mmap
import os
import resource
import select
import signal
import site
import sys
import sysconfig
import time
from collections.abc import Iterable
from types import ModuleType
from typing import Any

from sandbox import guard, kernel
from sandbox.protocol import HEADER, HELLO_ID, MAX_REQUEST, MAX_RESULT

PROJECT_PACKAGES = ("strategies", "sandbox")
# All that strategies may import from outside the standard library
THIRD_PARTY = ("numpy",)
# Loaded before lockdown: strategies use them, and the files are read while reading is allowed
PRELOAD = (
    "numpy", "math", "statistics", "decimal", "fractions", "datetime", "json", "random",
    "collections", "itertools", "functools", "operator", "bisect", "heapq", "dataclasses",
    "enum", "typing", "re", "string", "traceback", "linecache", "copy", "zlib",
)  # fmt: skip
SYSTEM_LIBRARIES = ("/lib", "/lib64", "/usr/lib", "/usr/lib64", "/usr/local/lib")
SITE_DIR_NAMES = ("site-packages", "dist-packages")
FUNCTIONS = ("decide", "dry_run")
OPEN_FILES = 64  # RLIMIT_NOFILE of the warm child and its calls: they need a handful
LEFTOVER_ROUNDS = 20
NO_SECCOMP = "crashed: the sandbox could not restrict the strategy's system calls"


class _ProjectFinder(importlib.abc.MetaPathFinder):
    """Finds the packages strategy code may use outside the standard library, each in the one
    directory it comes from; the app's other packages stay out of reach."""

    def __init__(self, places: dict[str, str]) -> None:
        self.places = places

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        place = self.places.get(fullname)
        if place is None:
            return None
        return importlib.machinery.PathFinder.find_spec(fullname, [place])


def _site_dirs() -> set[str]:
    """Directories of installed packages (site-packages): the app's own packages may be
    installed there, next to numpy."""
    dirs = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    with contextlib.suppress(AttributeError):  # a site module without these
        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    home = os.path.dirname(os.__file__)
    dirs.update(os.path.join(home, name) for name in SITE_DIR_NAMES)
    return {os.path.realpath(d) for d in dirs if d}


def _stdlib_paths(sites: set[str]) -> list[str]:
    """The sys.path entries of the standard library: beneath the directory of `os`, and not a
    site directory (in Docker's python image site-packages lies beneath it)."""
    home = os.path.realpath(os.path.dirname(os.__file__))
    paths = []
    for entry in sys.path:
        real = os.path.realpath(entry) if entry else ""
        if real and real not in sites and (real == home or real.startswith(home + os.sep)):
            paths.append(entry)
    return paths


def _limit_imports(root: str, stdlib: list[str]) -> dict[str, str]:
    """From here on only the standard library, THIRD_PARTY and the project's strategies and
    sandbox packages can be imported, whether the project is an editable checkout or installed
    in site-packages next to numpy: the app's other packages (config, db, ...) cannot.
    Returns where each of those packages comes from."""
    places = {name: root for name in PROJECT_PACKAGES}
    for name in THIRD_PARTY:  # looked up on the full path, before it is cut
        spec = importlib.machinery.PathFinder.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            places[name] = os.path.dirname(next(iter(spec.submodule_search_locations)))
    sys.path[:] = stdlib
    # only the standard finders: an editable install's finder maps every project package
    standard = (
        importlib.machinery.BuiltinImporter,
        importlib.machinery.FrozenImporter,
        importlib.machinery.PathFinder,
    )
    sys.meta_path[:] = [f for f in sys.meta_path if f in standard]
    sys.path_hooks[:] = [
        h for h in sys.path_hooks if not getattr(h, "__module__", "").startswith("__editable__")
    ]
    sys.path_importer_cache.clear()
    sys.meta_path.insert(0, _ProjectFinder(places))
    return places


def _without_sites(paths: Iterable[str], sites: set[str]) -> tuple[set[str], set[str]]:
    """`paths` as (readable, listable-only) Landlock rules that leave out the site directories
    beneath them: a directory holding one is only listable and its other entries readable."""
    readable: set[str] = set()
    listable: set[str] = set()
    pending = [os.path.realpath(p) for p in paths if os.path.exists(p)]
    seen: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen or path in sites:
            continue
        seen.add(path)
        if not any(s.startswith(path.rstrip(os.sep) + os.sep) for s in sites):
            readable.add(path)
            continue
        listable.add(path)
        with os.scandir(path) as entries:
            pending.extend(os.path.realpath(entry.path) for entry in entries)
    return readable, listable


def _file_access(
    root: str, stdlib: list[str], sites: set[str]
) -> tuple[list[str], list[str], list[str]]:
    """What strategy code may read: (readable by the hook and Landlock: the standard library,
    THIRD_PARTY packages and the project's strategies and sandbox packages; readable by
    Landlock only: system libraries that extension modules load; listable-only directories)."""
    readable, listable = _without_sites(stdlib, sites)
    for name in THIRD_PARTY:
        for folder in getattr(sys.modules.get(name), "__path__", None) or ():
            folder = os.path.realpath(folder)
            readable.add(folder)
            if os.path.isdir(folder + ".libs"):  # vendored shared libraries (numpy.libs)
                readable.add(folder + ".libs")
    readable.update(os.path.realpath(os.path.join(root, name)) for name in PROJECT_PACKAGES)
    libraries, more_listable = _without_sites(SYSTEM_LIBRARIES, sites)
    return sorted(readable), sorted(libraries - readable), sorted(listable | more_listable)


def _importable() -> set[str]:
    return (
        set(sys.stdlib_module_names) | set(PROJECT_PACKAGES) | set(THIRD_PARTY)
    ) - guard.DENIED_MODULES


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


class Buffers:
    """The only memory of the warm child that ever holds a request or a reply. Private
    anonymous mappings: a fork gets a copy-on-write snapshot, never shared pages, and
    MADV_DONTNEED drops the pages, which then read as zeros."""

    def __init__(self) -> None:
        self.request = mmap.mmap(-1, MAX_REQUEST, flags=mmap.MAP_PRIVATE)
        self.reply = mmap.mmap(-1, HEADER.size + MAX_RESULT, flags=mmap.MAP_PRIVATE)
        self.header = bytearray(HEADER.size)  # a request's length and id, nothing else

    @staticmethod
    def wipe(buffer: mmap.mmap, used: int) -> None:
        if used:
            buffer.madvise(mmap.MADV_DONTNEED, 0, used)


def _fill(fd: int, view: memoryview) -> int:
    """Read straight into `view` until it is full or the input ends: the bytes read."""
    done = 0
    while done < len(view):
        count = os.readv(fd, [view[done:]])
        if not count:
            break
        done += count
    return done


def _write_all(fd: int, data: bytes | memoryview) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _open_processes() -> int | None:
    """/proc, opened before Landlock closes it: listing it finds what a call left running."""
    try:
        return os.open("/proc", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return None


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
    sites = _site_dirs() | {os.path.realpath(root)}
    stdlib = _stdlib_paths(sites)
    _limit_imports(root, stdlib)
    for name in (*PRELOAD, config["entry"]):
        importlib.import_module(name)
    entry = sys.modules[config["entry"]]
    _warm_up(entry, config.get("warmup"))
    readable, libraries, listable = _file_access(root, stdlib, sites)
    importable = _importable()
    buffers = Buffers()
    syscalls = kernel.syscall_filter()
    _forget_denied_modules()
    sys.meta_path.insert(0, guard.import_gate())
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    processes = _open_processes()
    kernel.become_subreaper()
    files = kernel.restrict_files([*readable, *libraries], listable)
    guard.install(readable, importable, listable)
    seccomp = syscalls is not None and kernel.seccomp_works(syscalls)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (OPEN_FILES, OPEN_FILES))
    gc.collect()
    gc.freeze()  # forked calls then copy fewer pages
    child = Child(entry, config, buffers, syscalls if seccomp else None)
    child.requests, child.replies, child.devnull = requests, replies, devnull
    child.processes = processes
    hello = {"network_isolated": network, "files_isolated": files, "seccomp": seccomp}
    child.send(HELLO_ID, json.dumps({"ready": True, **hello}).encode())
    child.serve()


class Child:
    """The warm child's serving loop, and what runs in each forked call."""

    def __init__(
        self,
        entry: ModuleType,
        config: dict[str, Any],
        buffers: Buffers,
        syscalls: kernel.SyscallFilter | None,
    ) -> None:
        self.entry = entry
        self.config = config
        self.buffers = buffers
        self.syscalls = syscalls  # None: no seccomp here
        # descriptors, set by main(): the protocol pipes, /dev/null, and /proc (to find
        # what a call left running)
        self.requests, self.replies, self.devnull = 0, 1, -1
        self.processes: int | None = None

    def send(self, call_id: int, data: bytes) -> None:
        """A frame the warm child makes itself (hello, failures): no user data in it."""
        _write_all(self.replies, HEADER.pack(len(data), call_id) + data)

    def serve(self) -> None:
        header = memoryview(self.buffers.header)
        request = memoryview(self.buffers.request)
        while True:
            got = _fill(self.requests, header)
            if got == 0:
                return  # end of input: the pool is done with this child
            length, call_id = HEADER.unpack_from(header)
            if got < HEADER.size or length > MAX_REQUEST:
                raise SystemExit("the sandbox child got a malformed request")
            if _fill(self.requests, request[:length]) < length:
                raise SystemExit("the sandbox child got a truncated request")
            self.call(call_id, length)

    def call(self, call_id: int, length: int) -> None:
        """Fork the call, wipe its request here, relay its reply frame or say why it has none."""
        buffers = self.buffers
        read_end, write_end = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            pid = -1
        if pid == 0:
            os.close(read_end)
            self.run_call(length, write_end)
        buffers.wipe(buffers.request, length)  # the call has its own copy
        os.close(write_end)
        used = 0
        try:
            if pid < 0:
                reason: str | None = "crashed: could not start a process for the strategy"
            else:
                used, reason = self.collect(pid, read_end)
            if reason is None:
                HEADER.pack_into(buffers.reply, 0, used - HEADER.size, call_id)
                _write_all(self.replies, memoryview(buffers.reply)[:used])
            else:
                self.send(call_id, json.dumps({"ok": False, "reason": reason}).encode())
        finally:
            os.close(read_end)
            buffers.wipe(buffers.reply, used)
        if reason is None:  # answered first; the process is only exiting by now
            _stop(pid)
        self.sweep()

    def collect(self, pid: int, read_end: int) -> tuple[int, str | None]:
        """Read the call's reply frame into the reply buffer within the wall-clock limit, killing
        the process past it: (bytes read, None) once complete, the process still to stop, or
        (bytes read, why there is no reply), the process reaped."""
        config = self.config
        deadline = time.monotonic() + config["wall_seconds"]
        timeout = f"stopped: exceeded its {config['wall_seconds']:g} s time limit"
        view = memoryview(self.buffers.reply)
        used, need, sized = 0, HEADER.size, False
        while used < need:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                _stop(pid)
                return used, timeout
            if not select.select([read_end], [], [], remaining)[0]:
                continue
            count = os.readv(read_end, [view[used:need]])
            if not count:
                break
            used += count
            if used == HEADER.size and not sized:
                sized = True
                length = HEADER.unpack_from(self.buffers.reply)[0]
                if length > MAX_RESULT:
                    _stop(pid)
                    return used, "stopped: returned more than 8 MiB of data"
                need += length
        if sized and used == need:
            return used, None
        status = _wait(pid, deadline)
        if status is None:
            _stop(pid)
            return used, timeout
        return used, _death(status[1], status[2], config)

    def run_call(self, length: int, result_fd: int) -> None:
        """In the forked process: limit, filter system calls, parse the request, arm the hook,
        call the strategy, write the reply frame, exit."""
        try:
            for fd in (0, 1, 2):
                os.dup2(self.devnull, fd)
            os.closerange(3, result_fd)  # the protocol pipes, /proc: nothing but the result pipe
            os.closerange(result_fd + 1, OPEN_FILES)
            os.setpgid(0, 0)  # one group, killed as a whole
            kernel.die_with_parent()
            config = self.config
            memory = config["memory_mb"] << 20
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            usage = resource.getrusage(resource.RUSAGE_SELF)
            cpu = int(usage.ru_utime + usage.ru_stime) + config["cpu_seconds"]
            resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
            resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # no effect for root, bars others
            filtered = self.syscalls is not None and self.syscalls.load(os.getpid())
            if not filtered and not config.get("allow_weak"):
                reply: dict[str, Any] = _failed(NO_SECCOMP)
            else:
                reply = self.answer(length, result_fd)
            try:
                data = json.dumps(reply, default=str).encode()
            except (MemoryError, RecursionError, ValueError, TypeError) as exc:
                data = json.dumps(_failed(_reason(exc, config))).encode()
            if len(data) > MAX_RESULT:
                data = json.dumps(_failed("stopped: returned more than 8 MiB of data")).encode()
            _write_all(result_fd, HEADER.pack(len(data), 0) + data)
            os.close(result_fd)  # the answer is complete: the parent need not wait for the exit
        finally:
            os._exit(0)

    def answer(self, length: int, result_fd: int) -> dict[str, Any]:
        config = self.config
        try:
            message = json.loads(self.buffers.request[:length])
            function = message["function"]
            if function not in FUNCTIONS:
                return _failed(f"unknown strategy function {function!r}")
            sys.audit(guard.ARM_EVENT, result_fd)
            return {"ok": True, "result": getattr(self.entry, function)(message["request"])}
        except BaseException as exc:  # anything user code raises is the call's outcome
            return _failed(_reason(exc, config))

    def sweep(self) -> None:
        """Reap the call's processes and kill any it left running: reparented to the warm
        child (a subreaper), they are its children. Seccomp keeps a call from starting any;
        this holds where it could."""
        for _ in range(LEFTOVER_ROUNDS):
            while True:
                try:
                    pid, _status = os.waitpid(-1, os.WNOHANG)
                except ChildProcessError:
                    return  # no child left
                if not pid:
                    break  # some are still running
            if not self._kill_children():
                break
        raise SystemExit("a strategy call left processes that could not be stopped")

    def _kill_children(self) -> bool:
        if self.processes is None:
            return False
        found = False
        for name in os.listdir(self.processes):
            if not name.isdigit():
                continue
            pid = int(name)
            try:
                if os.waitpid(pid, os.WNOHANG)[0] != 0:
                    continue  # it had ended: now reaped
            except ChildProcessError:
                continue  # not a child of ours
            _stop(pid)
            found = True
        return found


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
