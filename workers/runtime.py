"""The shared dependencies of a process, built once from settings."""

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from config.secrets import Vault
from config.settings import Settings
from db.session import SessionFactory, create_engine, create_session_factory
from exchanges.http import HttpPool
from exchanges.registry import ConnectorRegistry
from market.source import PriceSource, create_price_source


class LazySandbox:
    """The strategy sandbox pool, started on first use: processes that never run a strategy
    (an API without validations, the heartbeat) spawn no sandbox children."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._pool: Any = None
        self._lock = asyncio.Lock()

    async def call(self, function: str, request: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool or await self._start()
        answer: dict[str, Any] = await pool.call(function, request)
        return answer

    def status(self) -> dict[str, Any]:
        return self._pool.status() if self._pool is not None else {"alive": 0}

    async def _start(self) -> Any:
        from sandbox import SandboxLimits, StrategySandbox

        async with self._lock:
            if self._pool is None:
                settings = self._settings
                pool = StrategySandbox(
                    size=settings.sandbox_processes,
                    limits=SandboxLimits(
                        wall_seconds=settings.sandbox_wall_seconds,
                        cpu_seconds=settings.sandbox_cpu_seconds,
                        memory_mb=settings.sandbox_memory_mb,
                    ),
                    allow_weak=settings.sandbox_allow_weak,
                )
                await pool.start()
                self._pool = pool
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    vault: Vault
    prices: PriceSource
    connectors: ConnectorRegistry
    sandbox: LazySandbox = field(init=False)

    def __post_init__(self) -> None:
        self.sandbox = LazySandbox(self.settings)

    @classmethod
    def create(cls, settings: Settings) -> "Runtime":
        engine = create_engine(settings.resolved_database_url)
        sessions = create_session_factory(engine)
        vault = Vault.from_settings(settings)
        prices = create_price_source(settings)
        return cls(
            settings=settings,
            engine=engine,
            sessions=sessions,
            vault=vault,
            prices=prices,
            connectors=ConnectorRegistry(
                sessions, vault, prices, HttpPool(timeout=settings.exchange_timeout)
            ),
        )

    async def close(self) -> None:
        await self.sandbox.close()
        await self.prices.close()
        await self.connectors.aclose()
        await self.engine.dispose()
