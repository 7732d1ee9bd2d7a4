"""Broker creation, tokens and the public representation (never any secret)."""

import hashlib
import json
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Literal

import httpx
from fastapi import Request
from pydantic import BaseModel, Field, field_validator, model_validator

from config.secrets import Vault
from config.settings import Settings
from db.models import Broker

Exchange = Literal["paper", "binance", "bitget", "kraken"]
TradingMode = Literal["off", "strategies", "webhooks"]


class Credentials(BaseModel):
    api_key: str = Field(default="", max_length=512)
    api_secret: str = Field(default="", max_length=512)
    passphrase: str = Field(default="", max_length=256)


def checked_base_url(value: str | None) -> str | None:
    """An exchange endpoint (testnet, compatible API): http(s) and nothing after the host's
    path, since the connector appends the API paths itself."""
    if value is None or not value.strip():
        return None
    url = httpx.URL(value.strip())
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(
            "base_url must be an http:// or https:// address, e.g. https://testnet.binance.vision"
        )
    if url.query or url.fragment:
        raise ValueError("base_url must not have a query or fragment")
    return str(url).rstrip("/")


class BrokerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    exchange: Exchange = "paper"
    credentials: Credentials | None = None
    base_url: str | None = Field(default=None, max_length=255)
    trading_mode: TradingMode = "off"
    balances: dict[str, Decimal] | None = None
    fee_rate: Decimal = Field(default=Decimal("0.001"), ge=0, le=Decimal("0.1"))
    slippage: Decimal = Field(default=Decimal(0), ge=0, le=Decimal("0.1"))

    _base_url = field_validator("base_url")(checked_base_url)

    @field_validator("balances")
    @classmethod
    def _non_negative(cls, value: dict[str, Decimal] | None) -> dict[str, Decimal] | None:
        for asset, amount in (value or {}).items():
            if amount < 0 or not amount.is_finite():
                raise ValueError(f"balance of {asset} must be a positive number")
            if not asset.isalnum() or len(asset) > 20:
                raise ValueError(f"{asset!r} is not an asset name")
        return {a.upper(): v for a, v in value.items()} if value else value

    @model_validator(mode="after")
    def _credentials_for_real_exchanges(self) -> "BrokerCreate":
        if self.exchange != "paper":
            creds = self.credentials
            if creds is None or not creds.api_key or not creds.api_secret:
                raise ValueError(f"{self.exchange} needs credentials.api_key and api_secret")
            if self.exchange == "bitget" and not creds.passphrase:
                raise ValueError("bitget needs credentials.passphrase")
        elif self.balances is not None and not self.balances:
            raise ValueError("balances must name at least one asset")
        return self


class BrokerUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    credentials: Credentials | None = None
    base_url: str | None = Field(default=None, max_length=255)
    trading_mode: TradingMode | None = None
    fee_rate: Decimal | None = Field(default=None, ge=0, le=Decimal("0.1"))
    slippage: Decimal | None = Field(default=None, ge=0, le=Decimal("0.1"))

    _base_url = field_validator("base_url")(checked_base_url)


class BrokerOut(BaseModel):
    id: int
    name: str
    exchange: str
    trading_mode: str
    base_url: str | None
    has_credentials: bool
    fee_rate: Decimal | None
    slippage: Decimal | None
    webhook_url: str
    tradingview_message: str
    created_at: datetime
    updated_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_webhook_token(vault: Vault) -> tuple[str, str]:
    """A 192-bit token; returns (sha256 for lookup, ciphertext for showing the URL again)."""
    token = secrets.token_urlsafe(24)
    return token_digest(token), vault.encrypt(token)


def encrypt_credentials(vault: Vault, credentials: Credentials | None) -> str | None:
    if credentials is None or not (credentials.api_key or credentials.api_secret):
        return None
    return vault.encrypt(json.dumps(credentials.model_dump()))


def webhook_url(settings: Settings, request: Request, token: str) -> str:
    base = settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/webhooks/tradingview/{token}"


def alert_message(broker: Broker) -> str:
    message = {
        "action": "BuyMarket",
        "symbol": "{{ticker}}",
        "percent": 100,
        "interval": "{{interval}}",
        "bar_time": "{{time}}",
        "exchange": "{{exchange}}",
    }
    return json.dumps(message, indent=2)


def broker_out(broker: Broker, settings: Settings, vault: Vault, request: Request) -> BrokerOut:
    paper = broker.exchange == "paper"
    return BrokerOut(
        id=broker.id,
        name=broker.name,
        exchange=broker.exchange,
        trading_mode=broker.trading_mode,
        base_url=broker.base_url,
        has_credentials=broker.credentials_encrypted is not None,
        fee_rate=broker.paper_fee_rate if paper else None,
        slippage=broker.paper_slippage if paper else None,
        webhook_url=webhook_url(settings, request, vault.decrypt(broker.webhook_token_encrypted)),
        tradingview_message=alert_message(broker),
        created_at=broker.created_at,
        updated_at=broker.updated_at,
    )
