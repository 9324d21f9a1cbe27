"""Scale-down on a real Dynamo 1.6.1 graph drains in-flight requests, none failed (issue 13).

Two decode mockers under the local connector serve steady load (three drivers with different output
lengths, so requests start and finish at all times); decode is scaled 2 -> 1 through the connector
while requests are in flight on both replicas. Every request sent gets a 200 carrying all the tokens
it asked for (a stream cut short by the stop would show as fewer), the removed replica's process exits
(by pid) after draining, within its graceful timeout (no SIGKILL), and the frontend then routes every
request to the remaining replica: its discovery entry is the only decode instance the frontend's
``/health`` lists, and the remaining replica's own request counter takes the new requests.

What was found (Dynamo 1.6.1, file discovery): on SIGTERM a worker closes its system port
(``/metrics``, ``/health``) and removes its discovery entry at once, the frontend stops routing to it
within that instant, and the worker exits once its in-flight requests are done (about 2 s here; 8 s
with 600-token outputs). The local connector's order (SIGTERM the tree, wait up to
``graceful_timeout_s``, then remove the watcher and free the port) needs no change; a
``graceful_timeout_s`` shorter than the longest request would SIGKILL it mid-request instead.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable

import httpx
import psutil

from planner_tui.config import GraphConfig
from planner_tui.connectors.local import LocalConnector
from planner_tui.model import Phase, ReplicaState
from tests.dynamo.harness import GraphOptions, LoadDriver, frontend_url, get_text, wait_for

#: the decode worker's gauge of requests it is generating now, and its counter of requests taken
RUNNING = "vllm:num_requests_running"
REQUESTS = "dynamo_component_requests_total"
#: the output lengths of the three load drivers (about 1.3 to 3 s each at speedup 1 on 2 cores)
OUTPUT_TOKENS = (100, 160, 230)


def metric(text: str | None, name: str) -> float | None:
    """``name``'s value in a Prometheus text (its ``generate`` endpoint's series where labelled);
    0 for a text without it (created on first use), None without a text (the endpoint did not answer)."""
    if text is None:
        return None
    for line in text.splitlines():
        if not line.startswith((name + " ", name + "{")):
            continue
        head, _, value = line.rpartition(" ")
        if "dynamo_endpoint=" in head and 'dynamo_endpoint="generate"' not in head:
            continue
        return float(value)
    return 0.0


def decode_instances(health: str | None) -> int | None:
    """How many decode workers (Dynamo component ``backend``) the frontend's ``/health`` lists."""
    if health is None:
        return None
    instances = json.loads(health).get("instances", [])
    return sum(1 for i in instances if i.get("component") == "backend" and i.get("endpoint") == "generate")


class CheckedLoad(LoadDriver):
    """A LoadDriver that also counts as failed a 200 whose answer lacks tokens it asked for."""

    def problem(self, response: httpx.Response) -> str | None:
        """A non-200, or a 200 cut short (fewer tokens than asked for, or not stopped by the length)."""
        failed = super().problem(response)
        if failed is not None:
            return failed
        body = response.json()
        tokens = (body.get("usage") or {}).get("completion_tokens")
        reason = (body.get("choices") or [{}])[0].get("finish_reason")
        if tokens != self.max_tokens or reason != "length":
            return f"200 cut short: {tokens}/{self.max_tokens} tokens, {reason}"
        return None


def decode_replicas(conn: LocalConnector) -> list[ReplicaState]:
    return sorted(conn.component_states()["decode"].replicas, key=lambda r: r.index)


def running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_scale_down_drains_in_flight_requests_none_failed(
    dynamo_graph_factory: Callable[..., GraphConfig],
    running_dynamo: Callable[..., Awaitable[LocalConnector]],
) -> None:
    # KV room for every request on one replica: the drain is what is measured, not a KV queue
    graph = dynamo_graph_factory(GraphOptions(decode=(1, 2, 2), decode_blocks=512))
    grace = graph.components["decode"].graceful_timeout_s
    conn = await running_dynamo(graph)
    await conn.wait_until_stable(["decode"], 30)
    running_dynamo.remember()  # type: ignore[attr-defined]
    keep, victim = decode_replicas(conn)
    assert keep.pid and victim.pid and keep.metrics_url and victim.metrics_url
    victim_proc = psutil.Process(victim.pid)
    base = frontend_url(graph)
    assert decode_instances(await get_text(f"{base}/health")) == 2

    loads = [CheckedLoad(base, concurrency=3, max_tokens=n) for n in OUTPUT_TOKENS]

    def answered() -> int:
        return sum(load.result.ok for load in loads)

    for load in loads:
        load.start()
    try:
        # steady load: answers coming back, and requests being generated on both replicas
        async def both_busy() -> bool:
            texts = [await get_text(r.metrics_url or "") for r in (keep, victim)]
            return answered() >= 9 and all((metric(t, RUNNING) or 0) > 0 for t in texts)

        await wait_for(both_busy, 30, "requests in flight on both decode replicas")
        stopped_at = time.monotonic()
        assert await conn.scale_component("decode", 1)
        await wait_for(lambda: not running(victim_proc), grace + 5, f"decode-{victim.index} (pid {victim.pid}) to exit")
        drained_s = time.monotonic() - stopped_at
        # it drained (the mocker exits on SIGTERM once its requests are done), not killed at the deadline
        assert 0.2 < drained_s < grace, drained_s
        await wait_for(lambda: [r.index for r in decode_replicas(conn)] == [keep.index], 10, "one decode replica")
        assert decode_replicas(conn)[0].phase is Phase.READY
        assert decode_instances(await get_text(f"{base}/health")) == 1

        # a little more load: every client sends new requests, all to the remaining replica
        keep_before = metric(await get_text(keep.metrics_url), REQUESTS)
        answered_before = answered()
        assert keep_before is not None

        async def routed_to_keep() -> bool:
            taken = metric(await get_text(keep.metrics_url), REQUESTS)
            return answered() >= answered_before + 9 and taken is not None and taken >= keep_before + 9

        await wait_for(routed_to_keep, 30, "9 more requests taken and answered by the remaining replica")
    finally:
        for load in loads:
            await load.stop()
    failed = [f for load in loads for f in load.result.failed]
    assert failed == [], f"{len(failed)} of {answered() + len(failed)} requests failed: {failed[:5]}"
    assert answered() >= 27
