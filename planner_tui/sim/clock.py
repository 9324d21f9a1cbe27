"""Simulated time: real time multiplied by a speed-up factor, so tests can run minutes in seconds."""

from __future__ import annotations

import asyncio
import time


class SimClock:
    """Simulated seconds since the clock was made; ``speedup`` simulated seconds pass per real second.

    Every duration the sim reports (latencies, cold start, profile periods) is in simulated seconds.
    """

    def __init__(self, speedup: float = 1.0) -> None:
        if speedup <= 0:
            raise ValueError(f"speedup must be > 0, got {speedup}")
        self.speedup = speedup
        self._origin = time.monotonic()

    def now(self) -> float:
        """Simulated seconds since this clock started."""
        return (time.monotonic() - self._origin) * self.speedup

    def real(self, sim_seconds: float) -> float:
        """Real seconds that ``sim_seconds`` of simulated time take."""
        return max(0.0, sim_seconds) / self.speedup

    async def sleep(self, sim_seconds: float) -> None:
        """Sleep for ``sim_seconds`` of simulated time."""
        await asyncio.sleep(self.real(sim_seconds))
