"""Aristobot's Strategy SDK: `from strategies import Strategy, indicators`."""

from strategies import indicators
from strategies.base import Position, Strategy, StrategyError

__all__ = ["Position", "Strategy", "StrategyError", "indicators"]
