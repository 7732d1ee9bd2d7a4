"""Kernel isolation for the sandbox child through libc (Linux): a private network namespace,
no new privileges, a read-only Landlock view of a few directories, and death with its parent.

Each function returns False (or does nothing) where the platform refuses, so the sandbox still
runs, with the audit hook as its only guard, on kernels or containers that forbid these."""

import ctypes
import os
import signal
from collections.abc import Iterable

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.unshare.restype = ctypes.c_int

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

# Landlock: same syscall numbers on every architecture
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _prctl(option: int, value: int) -> bool:
    zero = ctypes.c_ulong(0)
    return _libc.prctl(ctypes.c_int(option), ctypes.c_ulong(value), zero, zero, zero) == 0


def die_with_parent() -> None:
    """SIGKILL this process when the process that started it goes away."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def isolate_network() -> bool:
    """Move into a new user and network namespace: no interface but a down loopback.

    Must run while the process has a single thread."""
    return int(_libc.unshare(ctypes.c_int(CLONE_NEWUSER | CLONE_NEWNET))) == 0


def _syscall(number: int, *args: object) -> int:
    return int(_libc.syscall(ctypes.c_long(number), *args))


def restrict_files(readable: Iterable[str]) -> bool:
    """Landlock: from now on this process and its children may only read beneath `readable`,
    write nowhere, execute nothing, bind or connect no TCP port and signal no outside process."""
    abi = _syscall(
        SYS_LANDLOCK_CREATE_RULESET,
        None,
        ctypes.c_size_t(0),
        ctypes.c_uint32(LANDLOCK_CREATE_RULESET_VERSION),
    )
    if abi < 1:
        return False
    handled_fs = (1 << 13) - 1  # ABI 1: execute, write, read, remove, make-anything
    if abi >= 2:
        handled_fs |= 1 << 13  # refer (link or rename across directories)
    if abi >= 3:
        handled_fs |= 1 << 14  # truncate
    if abi >= 5:
        handled_fs |= 1 << 15  # ioctl on devices
    attr = _RulesetAttr(handled_fs, 0b11 if abi >= 4 else 0, 0b11 if abi >= 6 else 0)
    size = 8 if abi < 4 else 16 if abi < 6 else 24
    ruleset = _syscall(
        SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)
    )
    if ruleset < 0:
        return False
    try:
        for path in readable:
            if not os.path.isdir(path):
                continue
            parent = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(ACCESS_FS_READ_FILE | ACCESS_FS_READ_DIR, parent)
                if (
                    _syscall(
                        SYS_LANDLOCK_ADD_RULE,
                        ctypes.c_int(ruleset),
                        ctypes.c_int(LANDLOCK_RULE_PATH_BENEATH),
                        ctypes.byref(rule),
                        ctypes.c_uint32(0),
                    )
                    != 0
                ):
                    return False
            finally:
                os.close(parent)
        if not _prctl(PR_SET_NO_NEW_PRIVS, 1):
            return False
        return _syscall(SYS_LANDLOCK_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) == 0
    finally:
        os.close(ruleset)
