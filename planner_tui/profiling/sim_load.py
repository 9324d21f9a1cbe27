"""Load on the simulated frontend through its own API: a constant request rate of fixed-size requests.

The simulated frontend generates its requests itself (open loop), so a load level is a request rate,
set with ``POST /control/profile`` (with the frontend's control token, :mod:`planner_tui.loadcontrol`).
What the client side counts comes from ``GET /sim/stats`` (requests generated, finished, in flight,
waiting for a first token) on the frontend's simulated clock; latencies come from the frontend's and
workers' histograms. The frontend's load profile is restored by :meth:`SimLoad.close`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import httpx

from planner_tui.loadcontrol.client import SimControlError, get_profile, get_stats, set_profile
from planner_tui.profiling.records import LoadKind
from planner_tui.profiling.scrape import ServerScraper
from planner_tui.profiling.window import RequestRecord, Sample

IDLE_POLL_S = 0.1  # another process's queue: no event to wait on but its answers


def _constant(tokens: int) -> dict[str, Any]:
    return {"dist": "constant", "mean": tokens, "std": 0, "min": tokens, "max": tokens}


class SimLoad:
    """A :class:`~.driver.LoadDriver` for the graph's simulated frontend at ``base_url``."""

    kind = LoadKind.REQUEST_RATE

    def __init__(self, base_url: str, scraper: ServerScraper, speedup: float = 1.0) -> None:
        self.base_url = base_url
        self.scraper = scraper
        self.records: Sequence[RequestRecord] = ()
        self._speedup = speedup
        self._client = httpx.AsyncClient(timeout=5.0, trust_env=False)
        self._original: dict[str, Any] | None = None
        self._isl = 1
        self._osl = 1
        self._clock0: tuple[float, float] | None = None  # (real, simulated) at the first sample

    async def start(self) -> None:
        """Remember the frontend's load profile (restored by :meth:`close`) and stop its load."""
        self._original = await get_profile(self.base_url, client=self._client)
        await set_profile(self.base_url, {"kind": "constant", "rps": 0}, client=self._client)

    async def apply(self, level: float, isl: int, osl: int) -> None:
        """A constant ``level`` requests/s of ``isl`` prompt and ``osl`` output tokens each."""
        self._isl, self._osl = isl, osl
        profile = {"kind": "constant", "rps": level, "isl": _constant(isl), "osl": _constant(osl)}
        await set_profile(self.base_url, profile, client=self._client)

    async def sample(self) -> Sample:
        """``/sim/stats`` and the servers' metrics, read together."""
        stats, server = await asyncio.gather(get_stats(self.base_url, client=self._client), self.scraper.sample())
        now = float(stats["sim_time_s"])
        real = time.monotonic()
        if self._clock0 is None:
            self._clock0 = (real, now)
        elif real - self._clock0[0] > 1.0:
            self._speedup = max(1e-3, (now - self._clock0[1]) / (real - self._clock0[0]))
        arrived = float(stats["requests_in"])
        awaiting = float(stats["awaiting_first_token"])
        succeeded = float(stats["succeeded"])
        # failed requests are counted as never having had a first token (a sweep point fails none)
        first = max(succeeded, arrived - awaiting - float(stats["failed"]))
        return Sample(
            t=now,
            sent=arrived,
            first_tokens=first,
            completed=succeeded,
            failed=float(stats["failed"]),
            in_flight=float(stats["in_flight"]),
            awaiting_first=awaiting,
            prompt_tokens=first * self._isl,
            output_tokens=succeeded * self._osl,
            client_done=None,
            server=server,
        )

    def real_seconds(self, clock_seconds: float) -> float:
        """Simulated seconds in real seconds (the frontend's speed-up, measured once running)."""
        return clock_seconds / self._speedup

    async def idle(self, timeout_s: float) -> bool:
        """Rate 0, then wait until the frontend has nothing in flight."""
        await set_profile(self.base_url, {"kind": "constant", "rps": 0}, client=self._client)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            stats = await get_stats(self.base_url, client=self._client)
            if stats["in_flight"] == 0:
                return True
            await asyncio.sleep(IDLE_POLL_S)
        return False

    async def close(self) -> None:
        """Restore the load profile found at :meth:`start` (best effort: the graph may be stopping)."""
        try:
            if self._original is not None:
                with contextlib.suppress(SimControlError):
                    await set_profile(self.base_url, self._original, client=self._client)
        finally:
            await self._client.aclose()
