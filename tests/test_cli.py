"""The `aristobot` command as a user runs it."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from config.settings import Settings
from tests.conftest import free_port

ARISTOBOT = str(Path(sys.executable).parent / "aristobot")


def run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ARISTOBOT, *args], input=stdin, env=env, capture_output=True, text=True, timeout=60
    )


def test_user_create_prints_the_id_and_refuses_duplicates(
    settings: Settings, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ARISTOBOT_DATABASE_URL": settings.resolved_database_url,
        "ARISTOBOT_DATA_DIR": str(tmp_path),
    }
    created = run(["user", "create", "cli-user", "--password-stdin"], env, "a-long-password\n")
    assert created.returncode == 0, created.stderr
    assert re.fullmatch(r"\d+\n", created.stdout)
    again = run(["user", "create", "cli-user", "--password-stdin"], env, "a-long-password\n")
    assert again.returncode == 1
    assert again.stderr.strip() == "aristobot: user 'cli-user' already exists"
    short = run(["user", "create", "other", "--password-stdin"], env, "short\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    assert len(short.stderr.strip().splitlines()) == 1


def temporal_processes(data_dir: Path) -> list[str]:
    found = subprocess.run(
        ["pgrep", "-f", f"{data_dir}/temporal.db"], capture_output=True, text=True
    )
    return found.stdout.split()


def children_of(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(p) for p in found.stdout.split()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead too
    return "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def start_dev(env: dict[str, str], log: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [ARISTOBOT, "dev"], env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, text=True
    )


def wait_for_banner(log: Path, process: subprocess.Popen[str], timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text()
        if "Press Ctrl-C to stop." in text:
            return text
        assert process.poll() is None, text
        time.sleep(0.2)
    raise AssertionError("no banner:\n" + log.read_text())


@pytest.mark.slow
def test_dev_starts_everything_and_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    port, temporal_port, ui_port = free_port(), free_port(), free_port()
    data_dir = tmp_path / "data"
    env = {
        **os.environ,
        "ARISTOBOT_DATA_DIR": str(data_dir),
        "ARISTOBOT_PORT": str(port),
        "ARISTOBOT_TEMPORAL_ADDRESS": f"127.0.0.1:{temporal_port}",
        "ARISTOBOT_TEMPORAL_UI_PORT": str(ui_port),
        "ARISTOBOT_MARKET": "simulated",
    }
    env.pop("ARISTOBOT_DATABASE_URL", None)
    log = tmp_path / "dev.log"
    dev = start_dev(env, log)
    try:
        banner = wait_for_banner(log, dev)
        assert f"http://127.0.0.1:{port}" in banner
        assert f"http://127.0.0.1:{ui_port}" in banner
        password = re.search(r"First login\s+admin / (\S+)", banner)
        assert password, banner
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as http:
            health = http.get("/healthz").json()
            assert health["temporal"]["ok"] and health["market"]["mode"] == "simulated"
            assert http.post(
                "/api/auth/login", json={"username": "admin", "password": password.group(1)}
            ).is_success
            broker = http.post("/api/brokers", json={"name": "p", "trading_mode": "webhooks"})
            path = "/webhooks/" + broker.json()["webhook_url"].split("/webhooks/", 1)[1]
            accepted = http.post(path, json={"action": "PING"}).json()
            assert accepted["status"] == "accepted"
            for _ in range(100):
                hook = http.get(f"/api/webhooks/{accepted['webhook_id']}").json()
                if hook["status"] == "processed":
                    break
                time.sleep(0.1)
            assert hook["status"] == "processed"
            # The Temporal Web UI is up too.
            assert httpx.get(f"http://127.0.0.1:{ui_port}/", timeout=10).status_code == 200
        assert temporal_processes(data_dir)
        children = children_of(dev.pid)
        assert len(children) == 2, "expected the Temporal dev server and a worker"
        dev.send_signal(signal.SIGINT)
        assert dev.wait(60) == 0, log.read_text()
        assert temporal_processes(data_dir) == [], "Ctrl-C left the Temporal dev server running"
        assert [pid for pid in children if alive(pid)] == [], "Ctrl-C left a child running"

        # Second run: same data dir, nothing lost, no new admin password.
        dev = start_dev(env, log)
        banner = wait_for_banner(log, dev)
        assert "First login" not in banner
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.post(
                "/api/auth/login", json={"username": "admin", "password": password.group(1)}
            ).is_success
            hook = http.get(f"/api/webhooks/{accepted['webhook_id']}").json()
            assert hook["status"] == "processed"
        described = subprocess.run(
            [
                str(Path(sys.executable).parent / "temporal"),
                "workflow",
                "describe",
                "--address",
                f"127.0.0.1:{temporal_port}",
                "-w",
                accepted["workflow_id"],
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert described.returncode == 0 and "COMPLETED" in described.stdout, described.stdout
        dev.send_signal(signal.SIGINT)
        assert dev.wait(60) == 0
        assert temporal_processes(data_dir) == []
    finally:
        if dev.poll() is None:
            dev.kill()
        for pid in temporal_processes(data_dir):
            os.kill(int(pid), signal.SIGKILL)


def test_dev_says_why_the_temporal_dev_server_did_not_start(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        ui_port = taken.getsockname()[1]
        env = {
            **os.environ,
            "ARISTOBOT_DATA_DIR": str(tmp_path),
            "ARISTOBOT_PORT": str(free_port()),
            "ARISTOBOT_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
            "ARISTOBOT_TEMPORAL_UI_PORT": str(ui_port),
            "ARISTOBOT_MARKET": "simulated",
        }
        env.pop("ARISTOBOT_DATABASE_URL", None)
        failed = subprocess.run(
            [ARISTOBOT, "dev"], env=env, capture_output=True, text=True, timeout=120
        )
    assert failed.returncode == 1
    # The dev server's own words, not just "see the log".
    assert f"can't set UI port {ui_port}" in failed.stderr, failed.stderr
    assert "address already in use" in failed.stderr
    assert temporal_processes(tmp_path) == []
