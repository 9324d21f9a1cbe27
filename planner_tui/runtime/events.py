"""Events a Session publishes to its subscribers (the dashboard, the headless command, tests)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from planner_tui.model.decisions import Decision
from planner_tui.model.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class SnapshotReady:
    """The collector produced a new Snapshot."""

    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class DecisionMade:
    """The planner made (and recorded) a Decision."""

    decision: Decision


@dataclass(frozen=True, slots=True)
class SessionError:
    """Something went wrong in the background (a tick, the audit log, the collector); the session goes on."""

    message: str


SessionEvent = SnapshotReady | DecisionMade | SessionError


async def events_until(events: asyncio.Queue[SessionEvent], stop: asyncio.Event) -> AsyncIterator[SessionEvent]:
    """The events of a subscription (``Session.subscribe``) as they come, until ``stop`` is set.

    Headless commands (``plan``, ``record``) read their session through this; the wait for the next
    event ends as soon as ``stop`` is set (Ctrl-C), and nothing is left pending.
    """
    while not stop.is_set():
        getter = asyncio.ensure_future(events.get())
        stopper = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for future in (getter, stopper):
            if not future.done():
                future.cancel()
        if getter not in done or getter.cancelled():
            return
        yield getter.result()
