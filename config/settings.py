"""Settings read from ARISTOBOT_* environment variables and a `.env` file (see CONTRACT.md)."""

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MarketMode = Literal["auto", "binance", "simulated"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ARISTOBOT_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("./var")
    database_url: str | None = None
    temporal_address: str = "127.0.0.1:7233"
    temporal_namespace: str = "default"
    task_queue: str = "aristobot"
    host: str = "127.0.0.1"
    port: int = 8000
    temporal_ui_port: int = 8233
    # Where the Temporal Web UI is reachable from a browser; defaults to the dev server's UI.
    temporal_ui_url: str | None = None
    # Public base URL TradingView reaches (https://bot.example.com); defaults to the request's.
    public_url: str | None = None
    secret_key: SecretStr | None = None
    market: MarketMode = "auto"
    binance_ws_url: str = "wss://stream.binance.com:9443"
    binance_rest_url: str = "https://api.binance.com"
    # The heartbeat streams these (comma-separated) plus whatever active strategies need.
    heartbeat_symbols: str = "BTCUSDT"
    heartbeat_timeframes: str = "1m,3m,5m,15m,1h,4h"
    # Binance cuts a stream connection at 24 h: the heartbeat reconnects on its own before.
    heartbeat_reconnect_after: float = Field(default=23.5 * 3600, gt=0)
    # Closed candles loaded per symbol and timeframe on a first start (the charts' history).
    heartbeat_history: int = Field(default=240, ge=1, le=1000)
    # Seconds between two reads of the symbols and timeframes active strategies need.
    heartbeat_strategy_refresh: float = Field(default=30.0, gt=0)
    # An accepted alert whose workflow could not start within this many seconds (Temporal
    # down) is not traded any more: a stale signal is worse than none.
    webhook_max_delay: float = Field(default=600.0, gt=0)
    # How long a fetched market price is reused (limits calls to Binance's public API).
    price_cache_seconds: float = Field(default=1.0, ge=0)
    # Read timeout of exchange REST calls; an order POST without an answer by then has an
    # unknown outcome and is looked up by its client order id before any retry.
    exchange_timeout: float = Field(default=10.0, gt=0)
    # Seconds between two reconciliation passes of a broker (its Temporal Schedule).
    reconcile_interval: float = Field(default=10.0, ge=1)
    # Strategies: how many a user may have active, and the sandbox that runs their code
    # (worker processes, and limits per call).
    max_active_strategies: int = Field(default=20, ge=0)
    sandbox_processes: int = Field(default=2, ge=1)
    sandbox_wall_seconds: float = Field(default=5.0, gt=0)
    sandbox_cpu_seconds: int = Field(default=5, ge=1)
    sandbox_memory_mb: int = Field(default=512, ge=128)
    # Run strategies even where the kernel cannot isolate them (no user + network namespace,
    # Landlock or seccomp), with the audit hook only: unsafe with untrusted users.
    sandbox_allow_weak: bool = False
    log_level: str = "INFO"
    # Seconds a stopping worker gives in-flight activities (an order must not be cut in half).
    worker_shutdown_grace: float = Field(default=30.0, ge=0)

    @property
    def reconcile_every(self) -> timedelta:
        return timedelta(seconds=self.reconcile_interval)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'aristobot.db').resolve()}"

    @property
    def resolved_temporal_ui_url(self) -> str:
        if self.temporal_ui_url:
            return self.temporal_ui_url.rstrip("/")
        host = self.temporal_address.rsplit(":", 1)[0]
        return f"http://{host}:{self.temporal_ui_port}"

    def workflow_url(self, workflow_id: str | None) -> str | None:
        if not workflow_id:
            return None
        return (
            f"{self.resolved_temporal_ui_url}/namespaces/{self.temporal_namespace}"
            f"/workflows/{workflow_id}"
        )


@lru_cache
def get_settings() -> Settings:
    return Settings()
