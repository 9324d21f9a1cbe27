"""Phases of a graph's replicas as seen from outside, for a connector that only observes.

An observing connector (``planner-tui status`` when no owner runs, an observer's log reader) must
change nothing: it does not talk to circusd, restart, launch or record anything. It reads the state
file once, checks each recorded pid and asks each replica's health URL, and that is all.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from planner_tui.connectors.local.health import check, not_ready_reason
from planner_tui.connectors.local.processes import is_running
from planner_tui.connectors.local.supervisor import Supervisor
from planner_tui.model.replicas import Phase

if TYPE_CHECKING:
    import httpx


async def observe_phases(sup: Supervisor, timeout: float = 0.5) -> None:
    """Set every recorded replica's runtime phase from its process and health URL (no changes made)."""

    async def one(client: httpx.AsyncClient | None, name: str) -> None:
        rec = sup.state.replicas[name]
        rt = sup.runtime_of(name)
        if rec.failed_reason or rec.stopping:
            return  # the connector's view shows these from the record itself
        if not rec.pid or not is_running(rec.pid, rec.pid_create_time):
            rt.phase, rt.reason = Phase.CRASHED, "process not running (its owner restarts it)"
            return
        url = sup.probe_url(name)
        result = None if url is None or client is None else await check(client, url, timeout)
        if result is None or result.ok:
            rt.phase, rt.reason = Phase.READY, None
            return
        comp = sup.graph.components.get(rec.component)
        now = time.time()
        rt.phase = Phase.RUNNING
        rt.reason, rt.ready_timed_out = not_ready_reason(
            result.detail, now - (rec.started_at or now), comp.ready_timeout_s if comp else 120.0
        )

    names = list(sup.state.replicas)
    if not any(sup.probe_url(name) for name in names):  # nothing to ask over HTTP: no client, no httpx
        await asyncio.gather(*(one(None, name) for name in names))
        return
    import httpx

    async with httpx.AsyncClient(trust_env=False) as client:
        await asyncio.gather(*(one(client, name) for name in names))
