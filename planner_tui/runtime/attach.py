"""Open a graph as its owner when nobody owns it, else as an observer of its owner."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from planner_tui.config.graph import GraphConfig
from planner_tui.runtime.observer import GraphObserver, ObserverError
from planner_tui.runtime.ownership import GraphOwnedError, OwnerInfo, read_owner
from planner_tui.runtime.session import Session

if TYPE_CHECKING:
    from planner_tui.runtime.source import GraphSource

    def _both_are_graph_sources(owner: Session, observer: GraphObserver) -> tuple[GraphSource, GraphSource]:
        return owner, observer  # mypy checks that the owner and an observer satisfy the same protocol


#: how long an observer waits for an owner that is still starting its graph to publish its feed
OWNER_START_WAIT_S = 120.0


async def wait_for_feed(namespace: str, owner: OwnerInfo, timeout: float = OWNER_START_WAIT_S) -> OwnerInfo:
    """The owner's info once it publishes its feed (it does so when its graph is up).

    Raises :class:`ObserverError` when the owner goes away, or has not published within ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while not owner.socket:
        if time.monotonic() > deadline:
            raise ObserverError(f"the owner ({owner.describe()}) has published no feed after {timeout:.0f} s")
        await asyncio.sleep(0.1)  # another process: there is no event to wait on but its lease file
        current = await asyncio.to_thread(read_owner, namespace)
        if current is None:
            raise ObserverError(f"the owner ({owner.describe()}) went away before publishing its feed")
        owner = current
    return owner


async def open_graph(graph: GraphConfig, **options: Any) -> Session | GraphObserver:
    """A :class:`Session` owning ``graph``, or, when another process owns it, a :class:`GraphObserver`.

    ``options`` go to :meth:`Session.open`. An observer changes nothing and never stops the graph.
    """
    try:
        return await Session.open(graph, **options)
    except GraphOwnedError as owned:
        owner = await wait_for_feed(graph.namespace, owned.owner)
        return await GraphObserver.connect(owner)
