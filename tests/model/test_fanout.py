"""The one fan-out: every subscriber gets every item; a slow one loses its oldest, never stalls the publisher."""

from __future__ import annotations

from planner_tui.model.fanout import Fanout


async def test_every_subscriber_gets_every_item_and_a_full_queue_drops_its_oldest() -> None:
    fanout: Fanout[int] = Fanout(maxsize=3)
    fast, slow = fanout.subscribe(), fanout.subscribe(maxsize=2)
    for item in range(4):
        fanout.publish(item)
    assert [fast.get_nowait() for _ in range(fast.qsize())] == [1, 2, 3]
    assert [slow.get_nowait() for _ in range(slow.qsize())] == [2, 3]
    fanout.unsubscribe(slow)
    fanout.unsubscribe(slow)  # twice is harmless
    fanout.publish(9)
    assert fast.get_nowait() == 9 and slow.empty() and len(fanout) == 1
