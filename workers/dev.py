"""`aristobot dev`: everything on one machine — Temporal dev server, migrations, the API and
the heartbeat (market feed) in this process and a worker child process; Ctrl-C stops all of
it, in order."""

import asyncio
import contextlib
import sys

from loguru import logger

from accounts.users import count_users, create_user, generate_password
from config.secrets import load_or_create_key
from config.settings import Settings
from db.migrate import upgrade
from db.session import create_engine, create_session_factory
from workers.children import aristobot_command, spawn
from workers.children import stop as child_stop
from workers.devserver import DevServer, temporal_answers
from workers.stack import Stack, stop_on_signals


async def ensure_admin(settings: Settings) -> str | None:
    """Creates `admin` with a random password on the first run; returns that password."""
    engine = create_engine(settings.resolved_database_url)
    try:
        sessions = create_session_factory(engine)
        if await count_users(sessions):
            return None
        password = generate_password()
        await create_user(sessions, "admin", password, is_admin=True)
        return password
    finally:
        await engine.dispose()


def _banner(stack: Stack, settings: Settings, password: str | None, own_server: bool) -> str:
    assert stack.runtime is not None
    market = stack.runtime.prices.status()
    lines = [
        "",
        "  Aristobot is running",
        f"    Dashboard     {stack.url}",
        f"    Temporal UI   {settings.resolved_temporal_ui_url}"
        + ("" if own_server else "  (existing Temporal server)"),
        f"    Market data   {market['mode']}"
        + (f" ({market['warning']})" if market["warning"] else ""),
        f"    Data dir      {settings.data_dir.resolve()}",
    ]
    if password:
        lines += [
            "",
            f"    First login   admin / {password}",
            "                  (shown only this once: note it down)",
        ]
    lines += ["", "  Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


async def _supervise_worker(settings: Settings, stop: asyncio.Event) -> None:
    """Keeps one `aristobot worker` child running (restarted if it dies) until `stop`."""
    worker = spawn(aristobot_command("worker"))
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=1.0)
            if worker.poll() is not None and not stop.is_set():
                logger.warning("the worker exited with code {}; restarting it", worker.returncode)
                worker = spawn(aristobot_command("worker"))
    finally:
        # A graceful stop lets an in-flight order activity finish.
        await asyncio.to_thread(child_stop, worker, settings.worker_shutdown_grace + 10)


async def run_dev(settings: Settings, host: str | None, port: int | None) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    load_or_create_key(settings)
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    password = await ensure_admin(settings)

    stop = stop_on_signals()

    server: DevServer | None = None
    if not await temporal_answers(settings):
        logger.info("starting the Temporal dev server ({})", settings.temporal_address)
        server = DevServer(settings)
        server.start()
    # The API serves in this process; the worker runs in a child process so a busy worker
    # never delays the answer to a webhook (the same split as in production).
    stack = Stack(settings, host=host, port=port, worker=False, heartbeat=True)
    supervisor: asyncio.Task[None] | None = None
    try:
        if server is not None:
            await server.wait_ready()
        await stack.start()
        supervisor = asyncio.create_task(_supervise_worker(settings, stop))
        await stack.market_checked()
        print(_banner(stack, settings, password, server is not None), file=sys.stderr, flush=True)
        await stack.wait_until(stop)
        logger.info("stopping")
    finally:
        stop.set()
        await stack.stop()
        if supervisor is not None:
            await supervisor
        if server is not None:
            await asyncio.to_thread(server.stop)
