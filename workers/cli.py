"""The `aristobot` command (CONTRACT.md, "Command line")."""

import argparse
import asyncio
import sys
from collections.abc import Sequence

from config.logging import setup_logging
from config.settings import Settings


class CliError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aristobot", description="Aristobot trading bot")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("dev", "one machine, everything: Temporal dev server, API, worker"),
        ("api", "the HTTP/WebSocket server (REST, TradingView webhooks, dashboard)"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--host")
        sub.add_argument("--port", type=int)
    commands.add_parser("worker", help="a Temporal worker (workflows + activities)")
    commands.add_parser("migrate", help="create/upgrade the database schema")
    commands.add_parser("heartbeat", help="the market-data feed (candles)")
    user = commands.add_parser("user", help="manage users").add_subparsers(
        dest="user_command", required=True
    )
    create = user.add_parser("create", help="create a user; prints its id")
    create.add_argument("username")
    create.add_argument("--password-stdin", action="store_true", required=True)
    create.add_argument("--admin", action="store_true")
    return parser


async def _user_create(settings: Settings, username: str, is_admin: bool) -> int:
    from accounts.users import AccountError, create_user
    from db.migrate import upgrade
    from db.session import create_engine, create_session_factory

    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise CliError("no password on stdin")
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    try:
        user = await create_user(
            create_session_factory(engine), username, password, is_admin=is_admin
        )
    except AccountError as exc:
        raise CliError(str(exc)) from None
    finally:
        await engine.dispose()
    return user.id


async def _serve(
    settings: Settings,
    *,
    api: bool,
    worker: bool,
    host: str | None = None,
    port: int | None = None,
) -> None:
    from workers.stack import Stack, stop_on_signals

    stack = Stack(settings, api=api, worker=worker, host=host, port=port)
    stop = stop_on_signals()
    try:
        await stack.start()
        await stack.wait_until(stop)
    finally:
        await stack.stop()


def run(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = Settings()
    setup_logging(settings.log_level)
    if args.command == "migrate":
        from db.migrate import upgrade

        upgrade(settings.resolved_database_url)
        print("database is up to date", file=sys.stderr)
    elif args.command == "user":
        print(asyncio.run(_user_create(settings, args.username, args.admin)))
    elif args.command == "dev":
        from workers.dev import run_dev

        asyncio.run(run_dev(settings, args.host, args.port))
    elif args.command == "api":
        asyncio.run(_serve(settings, api=True, worker=False, host=args.host, port=args.port))
    elif args.command == "worker":
        asyncio.run(_serve(settings, api=False, worker=True))
    elif args.command == "heartbeat":
        raise CliError("the heartbeat (candle feed) is not part of this version yet")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except CliError as exc:
        print(f"aristobot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one line, not a traceback, for users
        print(f"aristobot: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
