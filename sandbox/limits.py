"""What a strategy call may use, and the error a call that broke a rule ends with."""

from dataclasses import dataclass


@dataclass(frozen=True)
class SandboxLimits:
    wall_seconds: float = 5.0  # per call; the strategy process is killed when it runs over
    cpu_seconds: int = 5  # per call, as RLIMIT_CPU of the strategy process
    memory_mb: int = 512  # RLIMIT_AS of the strategy process


class StrategyFailed(Exception):
    """A strategy call was stopped or raised; `reason` says why in plain words for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
