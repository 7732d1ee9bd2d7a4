"""/api/exchanges: what each exchange Aristobot trades on needs and can do (for forms)."""

from fastapi import APIRouter
from pydantic import BaseModel

from api.deps import CurrentUser
from db.models.brokers import EXCHANGES
from exchanges.registry import CAPABILITIES, NATIVE, default_base_url
from exchanges.types import Capabilities

router = APIRouter(prefix="/api/exchanges", tags=["exchanges"])


class ExchangeInfo(BaseModel):
    id: str
    default_base_url: str | None
    needs_credentials: bool
    needs_passphrase: bool
    capabilities: Capabilities


class ExchangeList(BaseModel):
    items: list[ExchangeInfo]


@router.get("", response_model=ExchangeList)
async def list_exchanges(user: CurrentUser) -> ExchangeList:
    items = []
    for name in EXCHANGES:
        items.append(
            ExchangeInfo(
                id=name,
                default_base_url=default_base_url(name),
                needs_credentials=name in NATIVE,
                needs_passphrase=name == "bitget",
                capabilities=CAPABILITIES[name],
            )
        )
    return ExchangeList(items=items)
