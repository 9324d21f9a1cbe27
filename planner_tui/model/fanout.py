"""The one way anything in planner-tui is subscribed to: a bounded queue per subscriber, oldest dropped.

The collector fans its Snapshots out with it, and the runtime Session (and an observer of another
process's Session) its events; a slow subscriber loses its oldest items, never slows the publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Generic, TypeVar

T = TypeVar("T")


class Fanout(Generic[T]):
    """Delivers every published item to each subscriber's queue (``maxsize`` per queue, oldest dropped)."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._queues: list[asyncio.Queue[T]] = []

    def __len__(self) -> int:
        return len(self._queues)

    def subscribe(self, maxsize: int | None = None) -> asyncio.Queue[T]:
        """A queue receiving every item published from now on."""
        queue: asyncio.Queue[T] = asyncio.Queue(maxsize=self.maxsize if maxsize is None else maxsize)
        self._queues.append(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[T]) -> None:
        """Stop delivering to ``queue`` (a queue that is not subscribed is ignored)."""
        with contextlib.suppress(ValueError):
            self._queues.remove(queue)

    def publish(self, item: T) -> None:
        """Put ``item`` in every subscriber's queue, dropping a full queue's oldest item first."""
        for queue in list(self._queues):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(item)
