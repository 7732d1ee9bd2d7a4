"""The audit hook that stops strategy code doing what it may not, with a reason in plain words.

It is installed in the warm sandbox child but only acts in a strategy process, from the moment
that process raises the "sandbox.arm" event with its result pipe. On the first violation it
writes the reason to that pipe and ends the process, so user code cannot catch and go on.

An audit hook is a tripwire, not a wall: Python code in the same interpreter can in principle
get around it. The walls are the kernel's (network namespace, Landlock, resource limits, a fresh
process per call), which hold without the hook; the hook names what was tried."""

import importlib.abc
import json
import os
import sys
from collections.abc import Callable, Collection
from typing import Any

ARM_EVENT = "sandbox.arm"
IMPORT_EVENT = "sandbox.import"  # raised by ImportGate: importlib.import_module skips "import"

# Modules that reach past the audit events (raw memory, processes, sockets, file-backed C code)
DENIED_MODULES = frozenset(
    {
        "ctypes", "_ctypes", "subprocess", "_posixsubprocess", "socket", "_socket", "ssl",
        "_ssl", "multiprocessing", "_multiprocessing", "pty", "mmap", "sqlite3", "_sqlite3",
        "dbm", "_dbm", "_gdbm", "syslog",
    }
)  # fmt: skip

NETWORK_MODULES = frozenset({"socket", "_socket", "ssl", "_ssl", "syslog"})
COMMAND_MODULES = frozenset({"subprocess", "_posixsubprocess", "multiprocessing", "pty"})
NATIVE_MODULES = frozenset({"ctypes", "_ctypes"})

COMMANDS = frozenset(
    {"os.system", "subprocess.Popen", "os.posix_spawn", "os.exec", "os.spawn", "pty.spawn"}
)
PROCESSES = frozenset({"os.fork", "os.forkpty"})
SIGNALS = frozenset({"os.kill", "os.killpg", "signal.pthread_kill"})
NETWORK = frozenset(
    {
        "urllib.Request", "http.client.connect", "ftplib.connect", "smtplib.connect",
        "poplib.connect", "imaplib.open", "nntplib.connect", "telnetlib.Telnet.open",
        "webbrowser.open",
    }
)  # fmt: skip
FILE_CHANGES = frozenset(
    {
        "os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.link",
        "os.symlink", "os.truncate", "os.utime", "os.chflags", "os.lchflags", "os.mkfifo",
        "os.mknod", "os.setxattr", "os.removexattr", "os.chdir", "tempfile.mkstemp",
        "tempfile.mkdtemp",
    }
)  # fmt: skip
LISTINGS = frozenset({"os.listdir", "os.scandir", "glob.glob", "glob.glob/2"})
TAMPERING = frozenset(
    {
        "sys.addaudithook", "sys.settrace", "sys.setprofile", "gc.get_objects",
        "gc.get_referrers", "gc.get_referents", "resource.setrlimit", "resource.prlimit",
        "sys._current_frames", "sys._current_exceptions",
    }
)  # fmt: skip
DATABASES = frozenset({"sqlite3.connect", "sqlite3.connect/handle", "dbm.open"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def _path(value: Any) -> str:
    if value is None:
        return "."
    if isinstance(value, bytes):
        return os.fsdecode(value)
    return str(value)


def violation(
    event: str, args: tuple[Any, ...], readable: Collection[str], importable: Collection[str]
) -> str | None:
    """The reason `event` is refused to strategy code, or None when it is allowed."""
    if event == "open":
        path, mode, flags = args
        if isinstance(path, int):
            return "blocked: tried to open a file descriptor"
        writes = any(c in mode for c in "wax+") if mode else bool(flags & WRITE_FLAGS)
        if writes:
            return f"blocked: tried to write a file ({_path(path)})"
        # a missing file reveals nothing (Python itself looks for "<strategy>" on a syntax error)
        if os.path.exists(_path(path)) and not _inside(_path(path), readable):
            return f"blocked: tried to read a file outside the sandbox ({_path(path)})"
        return None
    if event in ("import", IMPORT_EVENT):
        return _import_violation(str(args[0]), importable)
    if event in COMMANDS:
        return f"blocked: tried to run a command ({event})"
    if event in PROCESSES:
        return f"blocked: tried to start a process ({event})"
    if event.startswith(("socket.", "syslog.")) or event in NETWORK:
        return "blocked: tried to open a network connection"
    if event.startswith("ctypes."):
        return f"blocked: tried to call native code ({event})"
    if event in SIGNALS:
        return f"blocked: tried to send a signal to a process ({event})"
    if event in FILE_CHANGES or event.startswith("shutil."):
        return f"blocked: tried to change files ({event})"
    if event in LISTINGS:
        if isinstance(args[0], int) or not _inside(_path(args[0]), readable):
            return f"blocked: tried to list a directory outside the sandbox ({_path(args[0])})"
        return None
    if event in DATABASES:
        return f"blocked: tried to open a database file ({event})"
    if event == "mmap.__new__":
        return "blocked: tried to map a file into memory"
    if event in TAMPERING:
        return f"blocked: tried to tamper with the sandbox ({event})"
    return None


def _import_violation(name: str, importable: Collection[str]) -> str | None:
    top = name.partition(".")[0]
    if top in importable:
        return None
    if top in NETWORK_MODULES:
        return f"blocked: tried to open a network connection (import {name})"
    if top in COMMAND_MODULES:
        return f"blocked: tried to run a command (import {name})"
    if top in NATIVE_MODULES:
        return f"blocked: tried to call native code (import {name})"
    return f"blocked: tried to import {name}"


class ImportGate(importlib.abc.MetaPathFinder):
    """First on sys.meta_path: reports every import that reaches the finders, whichever way
    it was asked for, so the hook can refuse modules outside the allowed set."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
        sys.audit(IMPORT_EVENT, fullname)
        return None


def _inside(path: str, roots: Collection[str]) -> bool:
    real = os.path.realpath(path)
    return any(real == root or real.startswith(root + os.sep) for root in roots)


def install(readable: Collection[str], importable: Collection[str]) -> None:
    """Add the hook; it stays inert until a process raises ARM_EVENT with its result fd."""
    armed: list[int] = []  # [pid, result fd] of the strategy process, once armed
    readable = tuple(os.path.realpath(p) for p in readable)
    importable = frozenset(importable)
    # bound now: user code that replaces these module attributes does not change the hook
    getpid: Callable[[], int] = os.getpid
    write, exit_, dumps, check = os.write, os._exit, json.dumps, violation

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event == ARM_EVENT:
            if not armed:
                armed.extend((getpid(), int(args[0])))
            return
        if not armed or armed[0] != getpid():
            return
        reason = check(event, args, readable, importable)
        if reason is None:
            return
        write(armed[1], dumps({"ok": False, "reason": reason}).encode())
        exit_(0)

    sys.addaudithook(hook)
