"""Builds the connector for a broker: loads its row, decrypts its credentials per call."""

import json

from sqlalchemy import select

from config.secrets import Vault
from db.models import Broker
from db.session import SessionFactory
from exchanges.errors import InvalidOrder
from exchanges.paper import PaperExchange
from exchanges.protocol import ExchangeConnector
from market.source import PriceSource


class BrokerNotFound(LookupError):
    pass


class ConnectorRegistry:
    def __init__(self, sessions: SessionFactory, vault: Vault, prices: PriceSource) -> None:
        self._sessions = sessions
        self._vault = vault
        self._prices = prices

    async def load_broker(self, broker_id: int) -> Broker:
        async with self._sessions() as session:
            broker = (await session.scalars(select(Broker).where(Broker.id == broker_id))).first()
        if broker is None:
            raise BrokerNotFound(f"broker {broker_id} no longer exists")
        return broker

    def credentials(self, broker: Broker) -> dict[str, str]:
        if not broker.credentials_encrypted:
            return {}
        data: dict[str, str] = json.loads(self._vault.decrypt(broker.credentials_encrypted))
        return data

    async def for_broker(self, broker_id: int) -> ExchangeConnector:
        return self.connector(await self.load_broker(broker_id))

    def connector(self, broker: Broker) -> ExchangeConnector:
        if broker.exchange == "paper":
            return PaperExchange(
                broker.id,
                self._sessions,
                self._prices,
                fee_rate=broker.paper_fee_rate,
                slippage=broker.paper_slippage,
            )
        raise InvalidOrder(
            f"the {broker.exchange} connector is not available yet: use a paper broker for now"
        )
