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
    backtest = commands.add_parser("backtest", help="run a strategy over past candles offline")
    backtest.add_argument("--strategy", required=True, metavar="FILE.py")
    backtest.add_argument("--candles", required=True, metavar="FILE.csv")
    backtest.add_argument("--symbol", required=True)
    backtest.add_argument("--timeframe", required=True)
    backtest.add_argument("--cash", default="10000")
    backtest.add_argument("--fee", default="0.001")
    backtest.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def _backtest(args: argparse.Namespace) -> None:
    import json
    from decimal import Decimal, InvalidOperation
    from pathlib import Path

    from strategies.backtest import load_candles_csv, run_backtest
    from strategies.loader import StrategyRuntimeError

    try:
        cash, fee = Decimal(args.cash), Decimal(args.fee)
    except InvalidOperation:
        raise CliError("--cash and --fee must be numbers, e.g. --cash 10000 --fee 0.001") from None
    path = Path(args.strategy)
    try:
        code = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read the strategy file {path}: {exc}") from None
    try:
        candles = load_candles_csv(args.candles)
        result = run_backtest(code, candles, args.symbol, args.timeframe, cash, fee)
    except StrategyRuntimeError as exc:
        raise CliError(f"{path.name} {exc}" if exc.line else f"{path.name}: {exc}") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print(json.dumps(result))
        return
    metrics = result["metrics"]
    print(
        f"{result['symbol']} {result['timeframe']}, {result['candles']} candles "
        f"{result['start']} .. {result['end']}\n"
        f"trades {metrics['trades']}, win rate {_percent(metrics['win_rate'])}, "
        f"profit factor {metrics['profit_factor']}, sharpe {metrics['sharpe']}\n"
        f"return {_percent(metrics['total_return'])}, max drawdown "
        f"{_percent(metrics['max_drawdown'])}, final equity {result['final_equity']}"
        + (" (open position marked to the last close)" if result["open_position"] else "")
    )


def _percent(ratio: str) -> str:
    return f"{float(ratio) * 100:.2f}%"


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
    heartbeat: bool = False,
    host: str | None = None,
    port: int | None = None,
) -> None:
    from workers.stack import Stack, stop_on_signals

    stack = Stack(settings, api=api, worker=worker, heartbeat=heartbeat, host=host, port=port)
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
    elif args.command == "backtest":
        _backtest(args)
    elif args.command == "heartbeat":
        asyncio.run(_serve(settings, api=False, worker=False, heartbeat=True))
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
