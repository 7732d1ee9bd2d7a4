"""Runs users' strategy code in locked-down subprocesses that hold no secrets.

A pool of warm processes (`StrategySandbox`) each forks a fresh, limited process per call, so a
strategy that crashes, hangs, eats memory or reaches for the network or files is stopped with a
plain reason (`StrategyFailed`) while the other calls keep being served."""

from typing import TYPE_CHECKING, Any

from sandbox.limits import SandboxLimits, StrategyFailed

if TYPE_CHECKING:
    from sandbox.pool import StrategySandbox

__all__ = ["SandboxLimits", "StrategyFailed", "StrategySandbox"]


def __getattr__(name: str) -> Any:
    # Imported on first use: the sandbox child imports this package too, and must not load
    # asyncio (and with it socket and subprocess) before it locks itself down.
    if name == "StrategySandbox":
        from sandbox.pool import StrategySandbox

        return StrategySandbox
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")
