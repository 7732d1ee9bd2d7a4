"""Builds the connector for a broker: loads its row, decrypts its credentials per call."""

import json
from collections.abc import Callable

from sqlalchemy import select

from config.secrets import Vault
from db.models import Broker
from db.session import SessionFactory
from exchanges import binance, bitget, kraken
from exchanges.errors import AuthenticationFailed
from exchanges.http import ApiCredentials, Endpoint, HttpPool
from exchanges.paper import PaperExchange
from exchanges.protocol import ExchangeConnector
from exchanges.types import Capabilities
from market.source import PriceSource

ConnectorClass = Callable[[Endpoint, ApiCredentials], ExchangeConnector]

NATIVE: dict[str, tuple[ConnectorClass, str]] = {
    "binance": (binance.BinanceConnector, binance.DEFAULT_BASE_URL),
    "bitget": (bitget.BitgetConnector, bitget.DEFAULT_BASE_URL),
    "kraken": (kraken.KrakenConnector, kraken.DEFAULT_BASE_URL),
}


CAPABILITIES: dict[str, Capabilities] = {
    "paper": PaperExchange.capabilities,
    "binance": binance.BinanceConnector.capabilities,
    "bitget": bitget.BitgetConnector.capabilities,
    "kraken": kraken.KrakenConnector.capabilities,
}


class BrokerNotFound(LookupError):
    pass


def default_base_url(exchange: str) -> str | None:
    native = NATIVE.get(exchange)
    return native[1] if native else None


class ConnectorRegistry:
    def __init__(
        self, sessions: SessionFactory, vault: Vault, prices: PriceSource, pool: HttpPool
    ) -> None:
        self._sessions = sessions
        self._vault = vault
        self._prices = prices
        self._pool = pool

    async def aclose(self) -> None:
        await self._pool.aclose()

    async def load_broker(self, broker_id: int) -> Broker:
        async with self._sessions() as session:
            broker = (await session.scalars(select(Broker).where(Broker.id == broker_id))).first()
        if broker is None:
            raise BrokerNotFound(f"broker {broker_id} no longer exists")
        return broker

    def credentials(self, broker: Broker) -> ApiCredentials:
        if not broker.credentials_encrypted:
            raise AuthenticationFailed(
                f"authentication failed: broker '{broker.name}' has no API key: add one"
            )
        data = json.loads(self._vault.decrypt(broker.credentials_encrypted))
        return ApiCredentials(
            api_key=data.get("api_key", ""),
            api_secret=data.get("api_secret", ""),
            passphrase=data.get("passphrase", ""),
        )

    async def for_broker(self, broker_id: int) -> ExchangeConnector:
        return self.connector(await self.load_broker(broker_id))

    def connector(self, broker: Broker) -> ExchangeConnector:
        """A connector is cheap: the pooled HTTP client lives on the endpoint, the
        credentials on the connector, so nothing mutable is shared between brokers."""
        if broker.exchange == "paper":
            return PaperExchange(
                broker.id,
                self._sessions,
                self._prices,
                fee_rate=broker.paper_fee_rate,
                slippage=broker.paper_slippage,
            )
        connector_class, default_url = NATIVE[broker.exchange]
        endpoint = self._pool.endpoint(broker.base_url or default_url, broker.exchange)
        return connector_class(endpoint, self.credentials(broker))
