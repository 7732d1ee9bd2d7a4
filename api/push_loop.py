"""The loop under the dashboard's periodic pushes (prices, candles)."""

import asyncio
from collections.abc import Awaitable, Callable

from loguru import logger


async def push_while(
    wanted: Callable[[], bool], tick: Callable[[], Awaitable[None]], interval: float, what: str
) -> None:
    """Runs `tick` every `interval` seconds while `wanted()`. A failing tick (database busy,
    market down) never ends the pushes; it is logged once per outage, not every tick."""
    failing = False
    while wanted():
        try:
            await tick()
            failing = False
        except Exception as exc:
            if not failing:
                logger.warning("{} push failed: {}", what, exc)
            failing = True
        await asyncio.sleep(interval)
