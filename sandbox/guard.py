"""The audit hook that stops strategy code doing what it may not, with a reason in plain words.

It is installed in the warm sandbox child but only acts in a strategy process, from the moment
that process raises the "sandbox.arm" event with its result pipe. On the first violation it
writes the reason to that pipe and ends the process, so user code cannot catch and go on.

User code shares the interpreter with the hook, so the hook is built to leave it nothing to
tamper with: everything it uses is captured in its closure when it is installed (rebinding this
module's names, or builtins, through `sys.modules` changes nothing), it calls only C functions
and methods of immutable built-in types (no Python code of the standard library that user code
could replace and so run inside the hook), and it refuses the events that would rewrite code
(`__code__`, `__class__`, ...) or walk the interpreter's objects (`gc.get_referrers`, ...).

It remains a tripwire, not a wall: the walls are the kernel's (network namespace, Landlock,
seccomp, resource limits, a fresh process per call), which hold without the hook; the hook names
what was tried."""

import _json
import gc
import importlib.abc
import os
import sys
from collections.abc import Collection
from typing import Any

ARM_EVENT = "sandbox.arm"
IMPORT_EVENT = "sandbox.import"  # raised by the import gate: importlib.import_module skips "import"

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
ATTRIBUTE_EVENTS = frozenset({"object.__setattr__", "object.__delattr__"})
# Attributes that, changed, make existing code do something else (the hook's, for one)
CODE_ATTRIBUTES = frozenset(
    {"__code__", "__globals__", "__closure__", "__builtins__", "__dict__", "__class__", "__mro__"}
)
# Changed only on what the strategy made itself: typing.NamedTuple sets the __bases__ of the
# class it makes, collections.namedtuple() the __defaults__ of its __new__; code loaded
# before the call (the standard library, numpy, the SDK, the sandbox) stays as it is
MADE_ATTRIBUTES = frozenset({"__bases__", "__defaults__", "__kwdefaults__"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
MAX_SYMLINKS = 40


def install(
    readable: Collection[str], importable: Collection[str], listable: Collection[str] = ()
) -> None:
    """Add the hook; it stays inert until a process raises ARM_EVENT with its result fd.
    Strategy code may read the files and beneath the directories in `readable`, list those
    and the directories in `listable`, and import the top-level modules in `importable`.

    Every name the hook and its helpers use is a local of this function (a closure cell of
    theirs), never a global: tests check it."""
    roots = tuple(os.path.realpath(p) for p in readable)
    prefixes = tuple(root.rstrip("/") + "/" for root in roots)
    directories = frozenset(os.path.realpath(p) for p in listable)
    allowed = frozenset(importable)
    sandbox_code = os.path.dirname(__file__) + os.sep  # file names of this package's code
    # the code loaded so far: its classes, and the namespaces of its functions
    loaded = frozenset(id(vars(m)) for m in list(sys.modules.values()) if hasattr(m, "__dict__"))
    classes = frozenset(id(o) for o in gc.get_objects() if isinstance(o, type))
    arm, import_event = ARM_EVENT, IMPORT_EVENT
    denied_modules, network_modules = DENIED_MODULES, NETWORK_MODULES
    command_modules, native_modules = COMMAND_MODULES, NATIVE_MODULES
    commands, processes, signals, network = COMMANDS, PROCESSES, SIGNALS, NETWORK
    file_changes, listings, tampering, databases = FILE_CHANGES, LISTINGS, TAMPERING, DATABASES
    attribute_events, code_attributes = ATTRIBUTE_EVENTS, CODE_ATTRIBUTES
    made_attributes, write_flags, max_symlinks = MADE_ATTRIBUTES, WRITE_FLAGS, MAX_SYMLINKS
    # C functions and built-in types, bound now
    str_, bytes_, int_, type_, len_, id_ = str, bytes, int, type, len, id
    issubclass_, function_type = issubclass, type(install)
    error_types = (OSError, ValueError, TypeError)
    stat, readlink, getcwd, write, exit_ = os.stat, os.readlink, os.getcwd, os.write, os._exit
    quote = _json.encode_basestring_ascii
    state = [-1]  # the result fd once armed

    def text(value: Any) -> str | None:
        """`value` as a plain str if it is a str or bytes (subclasses copied without running
        any of their methods), else None."""
        kind = type_(value)
        if kind is str_:
            return value
        if kind is bytes_ or issubclass_(kind, bytes_):
            return b"".join((value,)).decode("utf-8", "surrogateescape")
        if issubclass_(kind, str_):
            return "".join((value,))
        return None

    def real(path: str) -> str:
        """os.path.realpath(path), with C functions only."""
        if not path.startswith("/"):
            path = getcwd() + "/" + path
        pending = path.split("/")
        pending.reverse()
        done: list[str] = []
        hops = 0
        while pending:
            part = pending.pop()
            if part == "" or part == ".":
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            done.append(part)
            here = "/" + "/".join(done)
            try:
                target = readlink(here)
            except error_types:  # not a link, or missing: taken as it is
                continue
            hops += 1
            if hops > max_symlinks:
                return here
            done.pop()
            if target.startswith("/"):
                done = []
            more = target.split("/")
            more.reverse()
            pending.extend(more)
        return "/" + "/".join(done)

    def inside(path: str) -> bool:
        resolved = real(path)
        for root in roots:
            if resolved == root:
                return True
        return resolved.startswith(prefixes)

    def exists(path: str) -> bool:
        try:
            stat(path)
        except error_types:
            return False
        return True

    def import_violation(name: str) -> str | None:
        top = name.partition(".")[0]
        if top in allowed and top not in denied_modules:
            return None
        if top in network_modules:
            return f"blocked: tried to open a network connection (import {name})"
        if top in command_modules:
            return f"blocked: tried to run a command (import {name})"
        if top in native_modules:
            return f"blocked: tried to call native code (import {name})"
        return f"blocked: tried to import {name}"

    def attribute_violation(event: str, args: tuple[Any, ...]) -> str | None:
        target, name = args[0], text(args[1])
        if name is None:
            return f"blocked: tried to tamper with the sandbox ({event})"
        if name in code_attributes:
            return f"blocked: tried to tamper with the sandbox (changing {name})"
        if name in made_attributes:
            if type_(target) is function_type:
                made = id_(target.__globals__) not in loaded
            else:
                made = id_(target) not in classes
            if not made:
                return f"blocked: tried to tamper with the sandbox (changing {name})"
        return None

    def check(event: str, args: tuple[Any, ...]) -> str | None:
        """The reason `event` is refused to strategy code, or None when it is allowed."""
        if event == "open":
            path, mode, flags = args
            if type_(path) is int_:
                return "blocked: tried to open a file descriptor"
            where = text(path)
            if where is None:
                return "blocked: tried to open a file by an unusual path"
            wanted = text(mode)
            writes = (
                ("w" in wanted or "a" in wanted or "x" in wanted or "+" in wanted)
                if wanted
                else type_(flags) is int_ and flags & write_flags != 0
            )
            if writes:
                return f"blocked: tried to write a file ({where})"
            # a missing file reveals nothing (Python itself looks for "<strategy>" on errors)
            if exists(where) and not inside(where):
                return f"blocked: tried to read a file outside the sandbox ({where})"
            return None
        if event == "import" or event == import_event:
            name = text(args[0])
            return import_violation(name) if name is not None else "blocked: tried to import"
        if event in attribute_events:
            return attribute_violation(event, args)
        if event == "sys._getframe":
            # frames of the strategy's own code are fine (namedtuple(), TypeVar() and Enum()
            # look at their caller's); the sandbox's own are not for it to see
            name = text(args[0].f_code.co_filename)
            if name is None or name.startswith(sandbox_code):
                return "blocked: tried to tamper with the sandbox (sys._getframe)"
            return None
        if event in commands:
            return f"blocked: tried to run a command ({event})"
        if event in processes:
            return f"blocked: tried to start a process ({event})"
        if event.startswith(("socket.", "syslog.")) or event in network:
            return "blocked: tried to open a network connection"
        if event.startswith("ctypes."):
            return f"blocked: tried to call native code ({event})"
        if event in signals:
            return f"blocked: tried to send a signal to a process ({event})"
        if event in file_changes or event.startswith("shutil."):
            return f"blocked: tried to change files ({event})"
        if event in listings:
            where = "." if args[0] is None else text(args[0])
            if where is None or not (inside(where) or real(where) in directories):
                shown = where if where is not None else "?"
                return f"blocked: tried to list a directory outside the sandbox ({shown})"
            return None
        if event in databases:
            return f"blocked: tried to open a database file ({event})"
        if event == "mmap.__new__":
            return "blocked: tried to map a file into memory"
        if event in tampering:
            return f"blocked: tried to tamper with the sandbox ({event})"
        return None

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if type_(event) is not str_:  # raised by user code with a str subclass: not ours
            return
        fd = state[0]
        if fd < 0:
            if event == arm:
                state[0] = int_(args[0])
            return
        reason = check(event, args)
        if reason is None:
            return
        try:
            data = ('{"ok": false, "reason": ' + quote(reason) + "}").encode()
            frame = len_(data).to_bytes(4, "big") + bytes_(4) + data  # protocol.HEADER, id 0
            while frame:
                frame = frame[write(fd, frame) :]
        finally:
            exit_(0)

    sys.addaudithook(hook)


def import_gate() -> importlib.abc.MetaPathFinder:
    """A finder for the front of sys.meta_path that reports every import reaching the finders,
    whichever way it was asked for, so the hook can refuse modules outside the allowed set."""
    audit, event = sys.audit, IMPORT_EVENT

    class ImportGate(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> None:
            audit(event, fullname)
            return None

    return ImportGate()
