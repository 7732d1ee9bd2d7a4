"""Turns a TradingView alert body into a validated Signal, or a plain-words error.

Field names are case-insensitive and the old system's French names are accepted, so
existing alert templates keep working (CONTRACT.md, "TradingView webhooks")."""

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel

from exchanges.symbols import SymbolError, normalize_symbol

MAX_BODY_BYTES = 64 * 1024
# What the database columns hold exactly: NUMERIC(38, 18).
MAX_NUMBER = Decimal(10) ** 20
MAX_DECIMAL_PLACES = 18

ACTIONS = ("PING", "BuyMarket", "SellMarket", "BuyLimit", "SellLimit", "MAJ")
_ACTION_BY_KEY = {a.lower(): a for a in ACTIONS}

# canonical field -> accepted names (compared lower-case)
ALIASES: dict[str, tuple[str, ...]] = {
    "action": ("action",),
    "symbol": ("symbol", "ticker"),
    "price": ("price", "prix"),
    "percent": ("percent", "pourcent"),
    "sl": ("sl", "prixsl"),
    "tp": ("tp", "prixtp"),
    "id": ("id", "alert_id"),
    "interval": ("interval",),
    "bar_time": ("bar_time", "bartime"),
    "exchange": ("exchange",),
    "broker_id": ("broker_id", "userexchangeid"),
}


class PayloadError(ValueError):
    """The body cannot become a signal; the message is shown to the user as is."""


class Signal(BaseModel):
    action: str
    symbol: str | None = None
    price: Decimal | None = None
    percent: Decimal = Decimal(100)
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    alert_id: str | None = None
    interval: str | None = None
    bar_time: str | None = None
    exchange: str | None = None
    broker_id: int | None = None

    @property
    def side(self) -> str | None:
        if self.action.startswith("Buy"):
            return "buy"
        if self.action.startswith("Sell"):
            return "sell"
        return None

    @property
    def order_type(self) -> str | None:
        if self.action.endswith("Market"):
            return "market"
        if self.action.endswith("Limit"):
            return "limit"
        return None


def parse_body(body: bytes) -> dict[str, Any]:
    """JSON object, or `key=value` / `key: value` pairs separated by newlines, `&` or `,`."""
    try:
        text = body.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise PayloadError("the body is not UTF-8 text") from exc
    if not text:
        raise PayloadError("the body is empty: send the alert message as JSON")
    if "\x00" in text:
        raise PayloadError("the body contains a NUL character")
    if text[0] in "{[":
        try:
            data = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
        except json.JSONDecodeError as exc:
            raise PayloadError(
                f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            ) from exc
        if not isinstance(data, dict):
            raise PayloadError('the JSON body must be an object like {"action": ...}')
        return data
    pairs = [p for p in re.split(r"[\n&,;]+", text) if p.strip()]
    fields: dict[str, Any] = {}
    for pair in pairs:
        match = re.match(r"^\s*([A-Za-z_]+)\s*[:=]\s*(.*?)\s*$", pair)
        if not match:
            raise PayloadError(
                "the body is neither JSON nor key=value pairs: "
                'send e.g. {"action": "BuyMarket", "symbol": "BTCUSDT"}'
            )
        fields[match.group(1)] = match.group(2).strip("\"'")
    return fields


def _no_constant(name: str) -> Decimal:
    raise PayloadError(f"{name} is not a number")


def _canonical_fields(data: dict[str, Any]) -> dict[str, Any]:
    lowered: dict[str, Any] = {}
    for key, value in data.items():
        lowered.setdefault(str(key).strip().lower(), value)
    fields: dict[str, Any] = {}
    for canonical, names in ALIASES.items():
        for name in names:
            if name in lowered and lowered[name] not in (None, ""):
                fields[canonical] = lowered[name]
                break
    return fields


def readable_fields(data: dict[str, Any]) -> dict[str, str]:
    """Action and symbol as sent, for the record of a payload that was rejected."""
    fields = _canonical_fields(data)
    return {
        name: str(fields[name])[:40]
        for name in ("action", "symbol")
        if name in fields and not isinstance(fields[name], dict | list)
    }


def _decimal(name: str, value: Any) -> Decimal:
    if isinstance(value, bool):
        raise PayloadError(f"{name} must be a number, got {value!r}")
    text = str(value).strip().rstrip("%") if name == "percent" else str(value).strip()
    try:
        number = Decimal(text)
    except InvalidOperation:
        hint = " (a TradingView placeholder that was not filled in?)" if "{{" in text else ""
        raise PayloadError(f"{name} must be a number, got {value!r}{hint}") from None
    if not number.is_finite():
        raise PayloadError(f"{name} must be a finite number, got {value!r}")
    if abs(number) >= MAX_NUMBER:
        raise PayloadError(f"{name} is too large: {value}")
    if number != 0 and number.as_tuple().exponent < -MAX_DECIMAL_PLACES:  # type: ignore[operator]
        raise PayloadError(f"{name} has more than {MAX_DECIMAL_PLACES} decimal places: {value}")
    return number


def _positive(name: str, value: Any) -> Decimal:
    number = _decimal(name, value)
    if number <= 0:
        raise PayloadError(f"{name} must be greater than 0, got {value}")
    return number


def _text(name: str, value: Any, limit: int) -> str:
    if isinstance(value, dict | list):
        raise PayloadError(f"{name} must be text, got {type(value).__name__}")
    text = str(value).strip()
    if len(text) > limit:
        raise PayloadError(f"{name} is longer than {limit} characters")
    return text


def parse_signal(data: dict[str, Any]) -> Signal:
    fields = _canonical_fields(data)
    if "action" not in fields:
        raise PayloadError('missing field "action" (one of ' + ", ".join(ACTIONS) + ")")
    raw_action = _text("action", fields["action"], 40)
    action = _ACTION_BY_KEY.get(raw_action.lower())
    if action is None:
        raise PayloadError(f"unknown action {raw_action!r}: expected one of {', '.join(ACTIONS)}")
    signal: dict[str, Any] = {"action": action}
    if "symbol" in fields:
        try:
            signal["symbol"] = normalize_symbol(_text("symbol", fields["symbol"], 30))
        except SymbolError as exc:
            raise PayloadError(str(exc)) from None
    elif action != "PING":
        raise PayloadError(f'missing field "symbol" (e.g. "BTCUSDT") for {action}')
    if "price" in fields:
        signal["price"] = _positive("price", fields["price"])
    elif action.endswith("Limit"):
        raise PayloadError(f'{action} needs a limit "price"')
    if "percent" in fields:
        percent = _decimal("percent", fields["percent"])
        if not 0 < percent <= 100:
            raise PayloadError(f"percent must be greater than 0 and at most 100, got {percent}")
        signal["percent"] = percent
    if "sl" in fields:
        signal["stop_loss"] = _positive("sl", fields["sl"])
    if "tp" in fields:
        signal["take_profit"] = _positive("tp", fields["tp"])
    if action == "MAJ" and "sl" not in fields and "tp" not in fields:
        raise PayloadError('MAJ needs at least one of "sl" or "tp"')
    sl, tp = signal.get("stop_loss"), signal.get("take_profit")
    if sl is not None and tp is not None and sl >= tp:
        raise PayloadError(f"sl ({sl}) must be below tp ({tp}) for a long position")
    if action in ("BuyLimit",) and "price" in signal:
        if sl is not None and sl >= signal["price"]:
            raise PayloadError(f"sl ({sl}) must be below the buy price ({signal['price']})")
        if tp is not None and tp <= signal["price"]:
            raise PayloadError(f"tp ({tp}) must be above the buy price ({signal['price']})")
    if "id" in fields:
        signal["alert_id"] = _text("id", fields["id"], 128)
    for name, limit in (("interval", 40), ("bar_time", 64), ("exchange", 64)):
        if name in fields:
            signal[name] = _text(name, fields[name], limit)
    if "broker_id" in fields:
        try:
            signal["broker_id"] = int(str(fields["broker_id"]).strip())
        except ValueError:
            raise PayloadError(
                f"broker_id must be a whole number, got {fields['broker_id']!r}"
            ) from None
    return Signal(**signal)
