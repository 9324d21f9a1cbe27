"""The frontend's request book: every request is in one place until it completes, whatever workers do."""

from __future__ import annotations

import asyncio

import pytest

from planner_tui.sim.broker import LOST_REASON, MAX_LOSSES, Broker


def check(broker: Broker) -> None:
    assert broker.conserved(), broker.stats()
    assert broker.requests_in == broker.completed + broker.in_flight


async def test_disaggregated_flow_conserves_requests() -> None:
    broker = Broker()
    for _ in range(3):
        broker.submit(100, 10, now=0.0)
    check(broker)
    got = await broker.pull("p1", "prefill", want=2, wait_s=0)
    assert [r.id for r in got] == [1, 2] and broker.queued("prefill") == 1
    check(broker)
    firsts = broker.first_tokens("p1", [1, 2], now=0.5)
    assert [r.id for r in firsts] == [1, 2] and broker.queued("decode") == 2
    assert broker.awaiting_first_token == 1
    check(broker)
    decoded = await broker.pull("d1", "decode", want=5, wait_s=0)
    assert [r.wire()["generated"] for r in decoded] == [1, 1]
    done = broker.complete("d1", 1, now=2.0, ok=True, itl_mean_s=0.02)
    assert done is not None and done.duration_s == 2.0
    assert broker.complete("d1", 1, now=2.0, ok=True, itl_mean_s=None) is None  # duplicate report
    assert broker.complete("p1", 2, now=2.0, ok=True, itl_mean_s=None) is None  # not its holder
    check(broker)
    assert broker.stats()["completed"] == 1


async def test_hand_back_and_leave_requeue_at_the_head() -> None:
    broker = Broker()
    for _ in range(4):
        broker.submit(10, 10, now=0.0)
    await broker.pull("w1", "worker", want=3, wait_s=0)
    assert broker.hand_back("w1", [2, 3, 99]) == 2
    assert [r.id for r in broker.queues["prefill"]] == [2, 3, 4]
    assert broker.leave("w1") == 1
    assert [r.id for r in broker.queues["prefill"]] == [1, 2, 3, 4]
    assert "w1" not in broker.workers
    check(broker)


async def test_silent_worker_loses_its_lease() -> None:
    broker = Broker(lease_s=0.05)
    broker.submit(10, 10, now=0.0)
    await broker.pull("w1", "worker", want=1, wait_s=0)
    await asyncio.sleep(0.1)
    assert broker.expire() == ["w1"]
    assert broker.queued("prefill") == 1 and broker.held() == 0
    check(broker)


async def test_long_poll_wakes_when_work_arrives() -> None:
    broker = Broker()
    pull = asyncio.create_task(broker.pull("w1", "worker", want=1, wait_s=5.0))
    await asyncio.sleep(0.05)
    assert not pull.done()
    broker.submit(10, 10, now=0.0)
    got = await asyncio.wait_for(pull, 1.0)
    assert [r.id for r in got] == [1]


async def test_empty_long_poll_returns_after_its_wait() -> None:
    broker = Broker()
    assert await asyncio.wait_for(broker.pull("w1", "decode", want=1, wait_s=0.05), 1.0) == []
    assert broker.workers["w1"].role == "decode"


async def test_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown role 'router'"):
        Broker().touch("x", "router")


async def test_a_request_lost_with_its_worker_too_often_fails_visibly() -> None:
    broker = Broker(lease_s=0.01)
    broker.submit(10, 10, now=0.0)
    for attempt in range(1, MAX_LOSSES + 1):
        (request,) = await broker.pull(f"w@{attempt}", "worker", want=1, wait_s=0)
        await asyncio.sleep(0.02)
        assert broker.expire() == [f"w@{attempt}"]
        check(broker)
    assert request.losses == MAX_LOSSES and broker.in_flight == 0
    assert broker.failed == 1 and broker.failed_reasons == {LOST_REASON: 1} and broker.succeeded == 0
    assert broker.drained() and broker.stats()["failed_reasons"] == {LOST_REASON: 1}


async def test_failures_are_counted_by_reason_and_drained_needs_every_arrival_finished() -> None:
    broker = Broker()
    for _ in range(3):
        broker.submit(10, 10, now=0.0)
    await broker.pull("w@1", "worker", want=3, wait_s=0)
    broker.complete("w@1", 1, now=1.0, ok=True, itl_mean_s=None)
    broker.complete("w@1", 2, now=1.0, ok=False, itl_mean_s=None, error="prompt longer than the KV cache")
    assert not broker.drained()
    broker.complete("w@1", 3, now=1.0, ok=False, itl_mean_s=None)
    check(broker)
    assert broker.drained() and (broker.succeeded, broker.failed, broker.completed) == (1, 2, 3)
    assert broker.failed_reasons == {"prompt longer than the KV cache": 1, "worker error": 1}
    assert broker.stats()["workers"] == {"w@1": {"name": "w", "role": "worker", "held": 0}}
