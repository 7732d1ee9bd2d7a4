"""Heartbeat while an activity awaits the outside world, so a crashed worker is noticed
within the heartbeat timeout (seconds) instead of the whole start-to-close timeout."""

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

from temporalio import activity

T = TypeVar("T")


async def heartbeating(work: Awaitable[T], every: float = 1.0) -> T:
    if activity.info().is_local:  # local activities have no heartbeats
        return await work

    async def beat() -> None:
        while True:
            activity.heartbeat()
            await asyncio.sleep(every)

    beater = asyncio.create_task(beat())
    try:
        return await work
    finally:
        beater.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beater
