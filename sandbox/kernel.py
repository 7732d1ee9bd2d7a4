"""Kernel isolation for the sandbox through libc (Linux): private network and IPC namespaces,
no new privileges, a read-only Landlock view of a few directories, a seccomp filter on the
system calls a strategy never needs, a subreaper for what a call leaves running, and death with
the parent.

Each function returns False (or does nothing) where the platform refuses; the pool then refuses
to start unless weak isolation is explicitly allowed (see pool.py)."""

import ctypes
import os
import signal
import struct
from collections.abc import Iterable

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int
_libc.unshare.restype = ctypes.c_int

CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38

# Landlock: same syscall numbers on every architecture
SYS_LANDLOCK_CREATE_RULESET = 444
SYS_LANDLOCK_ADD_RULE = 445
SYS_LANDLOCK_RESTRICT_SELF = 446
LANDLOCK_CREATE_RULESET_VERSION = 1
LANDLOCK_RULE_PATH_BENEATH = 1
ACCESS_FS_READ_FILE = 1 << 2
ACCESS_FS_READ_DIR = 1 << 3

# Seccomp: system calls refused to a strategy process (EPERM). It computes and writes its
# result to a pipe it already holds: it needs no socket, process, thread, signal to another
# process, namespace, mount, key, BPF program, tracing, kernel module, shared memory with other
# processes, nor to change files' modes, owners, times or attributes (which Landlock leaves
# alone), the clock, the host name or scheduling priorities.
DENIED_SYSCALLS = (
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4", "sendto",
    "sendmsg", "sendmmsg", "execve", "execveat", "fork", "vfork", "clone", "clone3", "ptrace",
    "process_vm_readv", "process_vm_writev", "rt_sigqueueinfo", "rt_tgsigqueueinfo",
    "pidfd_send_signal", "pidfd_open", "pidfd_getfd", "unshare", "setns", "mount", "umount2",
    "pivot_root", "chroot", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
    "move_mount", "mount_setattr", "keyctl", "add_key", "request_key", "bpf", "perf_event_open",
    "userfaultfd", "kcmp", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "memfd_create", "name_to_handle_at", "open_by_handle_at", "init_module", "finit_module",
    "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
    "quotactl", "syslog", "setrlimit", "personality", "iopl", "ioperm", "creat", "openat2",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "utimensat", "futimesat", "setxattr", "lsetxattr", "fsetxattr",
    "removexattr", "lremovexattr", "fremovexattr", "shmget", "shmat", "shmctl", "shmdt",
    "msgget", "msgsnd", "msgrcv", "msgctl", "semget", "semop", "semctl", "semtimedop",
    "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive", "mq_notify", "mq_getsetattr",
    "sethostname", "setdomainname", "settimeofday", "clock_settime", "clock_adjtime",
    "adjtimex", "sched_setscheduler", "sched_setparam", "sched_setattr", "ioprio_set",
    "setpriority",
)  # fmt: skip
# Allowed only towards the process itself (abort() signals itself)
OWN_PID_SYSCALLS = ("kill", "tkill", "tgkill")
# Syscall numbers per machine (checked against libseccomp's tables by the tests)
SYSCALL_NUMBERS: dict[str, dict[str, int]] = {
    "x86_64": {
        "socket": 41, "socketpair": 53, "connect": 42, "bind": 49, "listen": 50, "accept": 43,
        "accept4": 288, "sendto": 44, "sendmsg": 46, "sendmmsg": 307, "execve": 59,
        "execveat": 322, "fork": 57, "vfork": 58, "clone": 56, "clone3": 435, "ptrace": 101,
        "process_vm_readv": 310, "process_vm_writev": 311, "kill": 62, "tkill": 200,
        "tgkill": 234, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297,
        "pidfd_send_signal": 424, "pidfd_open": 434, "pidfd_getfd": 438, "unshare": 272,
        "setns": 308, "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
        "fsopen": 430, "fsconfig": 431, "fsmount": 432, "fspick": 433, "open_tree": 428,
        "move_mount": 429, "mount_setattr": 442, "keyctl": 250, "add_key": 248,
        "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "kcmp": 312,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
        "memfd_create": 319, "name_to_handle_at": 303, "open_by_handle_at": 304,
        "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
        "kexec_file_load": 320, "reboot": 169, "swapon": 167, "swapoff": 168, "acct": 163,
        "quotactl": 179, "syslog": 103, "setrlimit": 160, "prlimit64": 302, "personality": 135,
        "iopl": 172, "ioperm": 173, "open": 2, "creat": 85, "openat": 257, "openat2": 437,
        "chmod": 90, "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93,
        "lchown": 94, "fchownat": 260, "utime": 132, "utimes": 235, "utimensat": 280,
        "futimesat": 261, "setxattr": 188, "lsetxattr": 189, "fsetxattr": 190,
        "removexattr": 197, "lremovexattr": 198, "fremovexattr": 199, "shmget": 29, "shmat": 30,
        "shmctl": 31, "shmdt": 67, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71,
        "semget": 64, "semop": 65, "semctl": 66, "semtimedop": 220, "mq_open": 240,
        "mq_unlink": 241, "mq_timedsend": 242, "mq_timedreceive": 243, "mq_notify": 244,
        "mq_getsetattr": 245, "sethostname": 170, "setdomainname": 171, "settimeofday": 164,
        "clock_settime": 227, "clock_adjtime": 305, "adjtimex": 159, "sched_setscheduler": 144,
        "sched_setparam": 142, "sched_setattr": 314, "ioprio_set": 251, "setpriority": 141,
    },
    "aarch64": {
        "socket": 198, "socketpair": 199, "connect": 203, "bind": 200, "listen": 201,
        "accept": 202, "accept4": 242, "sendto": 206, "sendmsg": 211, "sendmmsg": 269,
        "execve": 221, "execveat": 281, "clone": 220, "clone3": 435, "ptrace": 117,
        "process_vm_readv": 270, "process_vm_writev": 271, "kill": 129, "tkill": 130,
        "tgkill": 131, "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240,
        "pidfd_send_signal": 424, "pidfd_open": 434, "pidfd_getfd": 438, "unshare": 97,
        "setns": 268, "mount": 40, "umount2": 39, "pivot_root": 41, "chroot": 51, "fsopen": 430,
        "fsconfig": 431, "fsmount": 432, "fspick": 433, "open_tree": 428, "move_mount": 429,
        "mount_setattr": 442, "keyctl": 219, "add_key": 217, "request_key": 218, "bpf": 280,
        "perf_event_open": 241, "userfaultfd": 282, "kcmp": 272, "io_uring_setup": 425,
        "io_uring_enter": 426, "io_uring_register": 427, "memfd_create": 279,
        "name_to_handle_at": 264, "open_by_handle_at": 265, "init_module": 105,
        "finit_module": 273, "delete_module": 106, "kexec_load": 104, "kexec_file_load": 294,
        "reboot": 142, "swapon": 224, "swapoff": 225, "acct": 89, "quotactl": 60, "syslog": 116,
        "setrlimit": 164, "prlimit64": 261, "personality": 92, "openat": 56, "openat2": 437,
        "fchmod": 52, "fchmodat": 53, "fchmodat2": 452, "fchown": 55, "fchownat": 54,
        "utimensat": 88, "setxattr": 5, "lsetxattr": 6, "fsetxattr": 7, "removexattr": 14,
        "lremovexattr": 15, "fremovexattr": 16, "shmget": 194, "shmat": 196, "shmctl": 195,
        "shmdt": 197, "msgget": 186, "msgsnd": 189, "msgrcv": 188, "msgctl": 187, "semget": 190,
        "semop": 193, "semctl": 191, "semtimedop": 192, "mq_open": 180, "mq_unlink": 181,
        "mq_timedsend": 182, "mq_timedreceive": 183, "mq_notify": 184, "mq_getsetattr": 185,
        "sethostname": 161, "setdomainname": 162, "settimeofday": 170, "clock_settime": 112,
        "clock_adjtime": 266, "adjtimex": 171, "sched_setscheduler": 119, "sched_setparam": 118,
        "sched_setattr": 274, "ioprio_set": 30, "setpriority": 140,
    },
}  # fmt: skip
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000
SECCOMP_MODE_FILTER = 2
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
BPF_LD_W_ABS = 0x20
BPF_JEQ = 0x15
BPF_JGE = 0x35
BPF_JSET = 0x45
BPF_RET = 0x06
_INSTRUCTION = struct.Struct("=HBBI")
OPEN_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class _RulesetAttr(ctypes.Structure):
    _fields_ = [
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    ]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _prctl(option: int, value: int, pointer: int = 0) -> bool:
    zero = ctypes.c_ulong(0)
    return (
        _libc.prctl(
            ctypes.c_int(option), ctypes.c_ulong(value), ctypes.c_ulong(pointer), zero, zero
        )
        == 0
    )


def die_with_parent() -> None:
    """SIGKILL this process when the process that started it goes away."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def become_subreaper() -> bool:
    """Processes orphaned below this one are reparented to it (not to init), so it can kill
    and reap whatever a call left running."""
    return _prctl(PR_SET_CHILD_SUBREAPER, 1)


def isolate_network() -> bool:
    """Move into a new user and network namespace (no interface but a down loopback), and a
    new IPC namespace where the kernel allows it (no System V shared memory of other processes).

    Must run while the process has a single thread."""
    for flags in (CLONE_NEWUSER | CLONE_NEWNET | CLONE_NEWIPC, CLONE_NEWUSER | CLONE_NEWNET):
        if int(_libc.unshare(ctypes.c_int(flags))) == 0:
            return True
    return False


def _syscall(number: int, *args: object) -> int:
    return int(_libc.syscall(ctypes.c_long(number), *args))


def restrict_files(readable: Iterable[str], listable: Iterable[str] = ()) -> bool:
    """Landlock: from now on this process and its children may only read the files and beneath
    the directories in `readable`, list the directories in `listable`, write nowhere, execute
    nothing, bind or connect no TCP port and signal no outside process."""
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
    rules = [(path, ACCESS_FS_READ_FILE | ACCESS_FS_READ_DIR) for path in readable]
    rules += [(path, ACCESS_FS_READ_DIR) for path in listable]
    try:
        for path, access in rules:
            if os.path.isdir(path):
                pass
            elif os.path.isfile(path) and access & ACCESS_FS_READ_FILE:
                access = ACCESS_FS_READ_FILE  # the only right a file rule may carry
            else:
                continue
            parent = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rule = _PathBeneathAttr(access, parent)
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


class SyscallFilter:
    """The seccomp program of a strategy process, built once by the warm child: each forked
    call only writes its own pid in (for the signal rule) and loads it.

    Every rule is a short block that returns, so no jump goes further than a few instructions
    (BPF jumps reach 255 at most) however long the list grows."""

    def __init__(self, machine: str) -> None:
        numbers = SYSCALL_NUMBERS[machine]
        deny = SECCOMP_RET_ERRNO | 1  # EPERM
        code: list[tuple[int, int, int, int]] = []
        self._pid_at: list[int] = []

        def op(kind: int, k: int, true: int = 0, false: int = 0) -> None:
            code.append((kind, true, false, k))

        def arg(index: int, high: bool = False) -> None:  # little-endian 64-bit arguments
            op(BPF_LD_W_ABS, 16 + 8 * index + (4 if high else 0))

        def arg_is(index: int, value: int) -> None:  # 6 instructions; allow if equal, else deny
            arg(index)
            op(BPF_JEQ, value, 0, 2)
            arg(index, high=True)
            op(BPF_JEQ, 0, 1, 0)
            op(BPF_RET, deny)
            op(BPF_RET, SECCOMP_RET_ALLOW)

        op(BPF_LD_W_ABS, 4)  # arch: another ABI (32-bit int 0x80 on x86_64) numbers differently
        op(BPF_JEQ, AUDIT_ARCH[machine], 1, 0)
        op(BPF_RET, SECCOMP_RET_KILL_PROCESS)
        op(BPF_LD_W_ABS, 0)  # the syscall number, in the accumulator from here on
        if machine == "x86_64":  # the x32 ABI's numbers
            op(BPF_JGE, X32_SYSCALL_BIT, 0, 1)
            op(BPF_RET, deny)
        for name in DENIED_SYSCALLS:
            if name in numbers:
                op(BPF_JEQ, numbers[name], 0, 1)
                op(BPF_RET, deny)
        for name in OWN_PID_SYSCALLS:  # signals to the process itself only
            op(BPF_JEQ, numbers[name], 0, 6)
            self._pid_at.append(len(code) + 1)
            arg_is(0, 0)
        for name, index in (("openat", 2), ("open", 1)):  # opening files to read only
            if name in numbers:
                op(BPF_JEQ, numbers[name], 0, 4)
                arg(index)
                op(BPF_JSET, OPEN_WRITE_FLAGS, 0, 1)
                op(BPF_RET, deny)
                op(BPF_RET, SECCOMP_RET_ALLOW)
        op(BPF_JEQ, numbers["prlimit64"], 0, 6)  # reading limits, not setting them
        arg_is(2, 0)
        op(BPF_RET, SECCOMP_RET_ALLOW)
        self.program = bytearray(b"".join(_INSTRUCTION.pack(*instruction) for instruction in code))
        self.length = len(code)

    def load(self, pid: int) -> bool:
        """Apply the filter to this process (for good: it is inherited and cannot be lifted)."""
        for index in self._pid_at:
            offset = index * _INSTRUCTION.size
            kind, true, false, _ = _INSTRUCTION.unpack_from(self.program, offset)
            _INSTRUCTION.pack_into(self.program, offset, kind, true, false, pid)
        buffer = (ctypes.c_char * len(self.program)).from_buffer(self.program)
        program = _SockFprog(self.length, ctypes.addressof(buffer))
        if not _prctl(PR_SET_NO_NEW_PRIVS, 1):
            return False
        return _prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(program))


def syscall_filter() -> SyscallFilter | None:
    """The strategy processes' seccomp filter for this machine, or None where it is unknown."""
    machine = os.uname().machine
    return SyscallFilter(machine) if machine in SYSCALL_NUMBERS else None


def seccomp_works(syscalls: SyscallFilter) -> bool:
    """Load the filter in a throwaway child and check that it refuses a harmless call there."""
    pid = os.fork()
    if pid == 0:
        try:
            held = syscalls.load(os.getpid()) and _libc.unshare(ctypes.c_int(0)) != 0
            os._exit(0 if held and ctypes.get_errno() == 1 else 1)  # EPERM
        finally:
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0
