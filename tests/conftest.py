"""Shared fixtures: a real Temporal dev server, a real database (SQLite by default,
PostgreSQL with ARISTOBOT_TEST_DB=postgresql), the app stack on loopback HTTP, a fake
Binance market-data server, and fake Binance, Bitget and Kraken exchanges."""

import asyncio
import os
import secrets
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import pytest
from sqlalchemy import func, select
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from accounts.users import create_user
from config.settings import Settings
from db.migrate import upgrade
from db.models import Broker, User
from exchanges.paper import seed_balances
from tests.fakes.binance_exchange import FakeBinance
from tests.fakes.binance_market import MarketState, create_app
from tests.fakes.bitget_exchange import FakeBitget
from tests.fakes.kraken_exchange import FakeKraken
from tests.fakes.server import LoopbackServer
from tests.venues import EXCHANGES, FakeVenue, PaperVenue, Venue
from workers.devserver import LATENCY_TUNING, temporal_binary
from workers.stack import Stack
from workflows.search_attributes import ALL

T = TypeVar("T")
PG_ADMIN_URL = os.environ.get("ARISTOBOT_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
BACKEND = os.environ.get("ARISTOBOT_TEST_DB", "sqlite")
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"


def free_port() -> int:
    """A port nothing listens on, held in TIME_WAIT for a minute so the kernel does not hand
    it to another bind(0) (the Temporal dev server picks its internal ports that way) before
    the test binds it (our servers set SO_REUSEADDR)."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _ = listener.accept()
            accepted.close()  # closed from the listening side: TIME_WAIT stays on `port`
            client.recv(1)
        return port


def pytest_report_header() -> str:
    return f"aristobot database backend: {BACKEND}"


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aristobot-test-") as path:
        yield Path(path)


@pytest.fixture(scope="session")
def database_url(data_dir: Path) -> Iterator[str]:
    if BACKEND == "sqlite":
        url = f"sqlite:///{data_dir / 'aristobot.db'}"
        upgrade(url)
        yield url
        return
    if BACKEND != "postgresql":
        raise RuntimeError(f"ARISTOBOT_TEST_DB must be sqlite or postgresql, not {BACKEND!r}")
    name = f"aristobot_test_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        if os.environ.get("ARISTOBOT_TEST_REQUIRE_PG"):
            raise
        pytest.skip(
            f"PostgreSQL not reachable at {PG_ADMIN_URL} ({exc}); set ARISTOBOT_TEST_PG_URL"
        )
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    upgrade(url)
    yield url
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def temporal_env() -> AsyncIterator[WorkflowEnvironment]:
    extra: list[str] = []
    for value in LATENCY_TUNING:
        extra += ["--dynamic-config-value", value]
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_binary(),
        data_converter=pydantic_data_converter,
        search_attributes=ALL,
        dev_server_extra_args=extra,
    )
    yield env
    await env.shutdown()


@pytest.fixture(scope="session")
def temporal_address(temporal_env: WorkflowEnvironment) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture(scope="session")
async def market() -> AsyncIterator[tuple[MarketState, str]]:
    state = MarketState()
    server = await LoopbackServer(create_app(state)).start()
    yield state, server.url
    await server.stop()


@pytest.fixture(scope="session")
async def fake_exchanges() -> AsyncIterator[dict[str, FakeVenue]]:
    """Fake Binance, Bitget and Kraken servers on loopback, shared by the session."""
    venues, servers = {}, []
    for fake in (FakeBinance(), FakeBitget(), FakeKraken()):
        server = await LoopbackServer(fake.app).start()
        servers.append(server)
        venues[fake.name] = FakeVenue(fake, server.url)
    yield venues
    for server in servers:
        await server.stop()


@pytest.fixture(params=EXCHANGES)
async def venue(
    request: pytest.FixtureRequest,
    market: tuple[MarketState, str],
    fake_exchanges: dict[str, FakeVenue],
    stack: Stack,
) -> AsyncIterator[Venue]:
    """Each test using it runs once per exchange: paper and the three fakes."""
    if request.param == "paper":
        assert stack.runtime is not None
        yield PaperVenue(market[0], stack.runtime.sessions)
        return
    chosen = fake_exchanges[request.param]
    yield chosen
    chosen.fake.faults.clear()


@pytest.fixture(params=EXCHANGES[1:])
async def fake_venue(
    request: pytest.FixtureRequest, fake_exchanges: dict[str, FakeVenue]
) -> AsyncIterator[FakeVenue]:
    """Each test using it runs once per native exchange (fake)."""
    chosen = fake_exchanges[request.param]
    chosen.fake.faults.clear()
    yield chosen
    chosen.fake.faults.clear()


@pytest.fixture(scope="session")
def settings(
    data_dir: Path, database_url: str, temporal_address: str, market: tuple[MarketState, str]
) -> Settings:
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        temporal_address=temporal_address,
        task_queue=f"aristobot-test-{secrets.token_hex(4)}",
        port=0,
        market="binance",
        binance_rest_url=market[1],
        price_cache_seconds=0,
        secret_key=secrets.token_urlsafe(32),
        worker_shutdown_grace=5,
        # Short, so accept-then-timeout faults resolve quickly.
        exchange_timeout=2,
        # Tests trigger reconciliation passes themselves; hundreds of brokers each polling
        # every 10 s would only load the machine.
        reconcile_interval=3600,
    )


@pytest.fixture(scope="session")
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    app_stack = Stack(settings, port=0)
    await app_stack.start()
    yield app_stack
    await app_stack.stop()


@pytest.fixture(scope="session")
def temporal_client(stack: Stack) -> Client:
    assert stack.client is not None
    return stack.client


class ApiUser:
    """A logged-in user talking to the API over real HTTP."""

    def __init__(self, http: httpx.AsyncClient, user_id: int, username: str) -> None:
        self.http, self.id, self.username = http, user_id, username

    async def create_broker(self, **fields: Any) -> dict[str, Any]:
        body = {
            "name": f"paper-{secrets.token_hex(3)}",
            "exchange": "paper",
            "trading_mode": "webhooks",
            **fields,
        }
        response = await self.http.post("/api/brokers", json=body)
        assert response.status_code == 201, response.text
        broker: dict[str, Any] = response.json()
        return broker


@pytest.fixture
async def make_user(stack: Stack) -> AsyncIterator[Callable[[], Awaitable[ApiUser]]]:
    clients: list[httpx.AsyncClient] = []

    async def make() -> ApiUser:
        assert stack.runtime is not None
        username, password = f"u{secrets.token_hex(4)}", secrets.token_urlsafe(12)
        user = await create_user(stack.runtime.sessions, username, password)
        http = httpx.AsyncClient(base_url=stack.url, timeout=15)
        clients.append(http)
        response = await http.post(
            "/api/auth/login", json={"username": username, "password": password}
        )
        assert response.status_code == 200, response.text
        return ApiUser(http, user.id, username)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
async def user(make_user: Callable[[], Awaitable[ApiUser]]) -> ApiUser:
    return await make_user()


@pytest.fixture
async def webhook_http(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """An anonymous client, as TradingView is."""
    async with httpx.AsyncClient(base_url=stack.url, timeout=15) as http:
        yield http


def webhook_path(broker: dict[str, Any]) -> str:
    return "/webhooks/" + broker["webhook_url"].split("/webhooks/", 1)[1]


async def insert_paper_broker(stack: Stack, balances: dict[str, str] | None = None) -> int:
    """A user and a paper broker written straight to the database (for lower-level tests)."""
    assert stack.runtime is not None
    async with stack.runtime.sessions.begin() as session:
        user = User(username=f"db-{secrets.token_hex(4)}", password_hash="x")
        session.add(user)
        await session.flush()
        broker = Broker(
            user_id=user.id,
            name="paper",
            exchange="paper",
            webhook_token_hash=secrets.token_hex(32),
            webhook_token_encrypted="x",
        )
        session.add(broker)
        await session.flush()
        await seed_balances(
            session, broker.id, {a: Decimal(v) for a, v in (balances or {}).items()}
        )
        return broker.id


async def count_rows(stack: Stack, model: Any, broker_id: int) -> int:
    assert stack.runtime is not None
    async with stack.runtime.sessions() as session:
        total = await session.scalar(
            select(func.count()).select_from(model).where(model.broker_id == broker_id)
        )
        return int(total or 0)


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 20.0, interval: float = 0.1
) -> T:
    """Polls `probe` until it returns something truthy; fails with the last value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last: {value!r})")
        await asyncio.sleep(interval)


async def wait_webhook_done(api: ApiUser, webhook_id: int) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        body: dict[str, Any] = (await api.http.get(f"/api/webhooks/{webhook_id}")).json()
        return body if body["status"] in ("processed", "error") else None

    return await eventually(probe)
