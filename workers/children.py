"""Child processes of `aristobot dev`: started in their own session (Ctrl-C reaches only
the parent, which stops them in order) and killed by the kernel if the parent dies."""

import ctypes
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if its parent dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


def spawn(command: list[str], output: IO[bytes] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own fixed argv
        command,
        stdout=output,
        stderr=subprocess.STDOUT if output is not None else None,
        stdin=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
        start_new_session=True,
    )


def aristobot_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "workers", *args]


def stop(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM (a graceful stop), then SIGKILL after `timeout` seconds."""
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def log_file(data_dir: Path, name: str) -> IO[bytes]:
    data_dir.mkdir(parents=True, exist_ok=True)
    return (data_dir / name).open("ab")
