"""The shared dependencies of a process, built once from settings."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from config.secrets import Vault
from config.settings import Settings
from db.session import SessionFactory, create_engine, create_session_factory
from exchanges.http import HttpPool
from exchanges.registry import ConnectorRegistry
from market.source import PriceSource, create_price_source


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    sessions: SessionFactory
    vault: Vault
    prices: PriceSource
    connectors: ConnectorRegistry

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
        await self.prices.close()
        await self.connectors.aclose()
        await self.engine.dispose()
