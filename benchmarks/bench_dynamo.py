"""A real Dynamo 1.6.1 graph under a planner-tui Session: load step -> decision -> new worker routed.

    python benchmarks/bench_dynamo.py [--runs 3] [--idle-s 30]

Starts the frontend + prefill + decode mocker graph of ``tests/dynamo/harness.py`` (Dynamo's venv is
built on first use, cached in ``~/.cache/planner-tui/dynamo-1.6.1``) under a Session in auto mode
(metrics every 0.5 s, planner every 1 s, no stabilisation), then ``--runs`` times: with decode at one
idle replica, a load step (32 clients, 200-token outputs, the mocker 4x faster than real time) fills
the decode worker's small KV cache, and each step is timed:

- load -> decision: the first planner decision to scale decode up (its timestamp);
- decision -> running: the new decode worker's process runs (its pid, by psutil, polled every 20 ms);
- running -> ready: its ``/health`` answers 200;
- ready -> routed: the frontend sent it a request (its own ``dynamo_component_requests_total`` or
  ``vllm:num_requests_running`` above 0).

Between runs the load stops, the planner is paused and decode is scaled back to one replica. Then the
idle graph is watched for ``--idle-s`` seconds: the CPU of this process (the Session: collector,
planner, connector) and of circusd, as % of one core (psutil cpu_times deltas), and of the Dynamo
processes for comparison. Loopback only; everything runs in a temporary directory that is removed,
and every process started is stopped (checked by pid).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from planner_tui.config import GraphConfig  # noqa: E402
from planner_tui.connectors.local import LocalConnector  # noqa: E402
from planner_tui.model import ReplicaState, Signal  # noqa: E402
from planner_tui.model.decisions import PlannerMode  # noqa: E402
from planner_tui.runtime.events import DecisionMade  # noqa: E402
from planner_tui.runtime.session import Session  # noqa: E402
from tests.dynamo.harness import (  # noqa: E402
    GraphOptions,
    LoadDriver,
    dynamo_graph,
    ensure_dynamo,
    frontend_url,
    wait_graph_serving,
    write_model,
)

STEPS = ("load -> decision", "decision -> running", "running -> ready", "ready -> routed", "load -> routed")
POLL_S = 0.02


def metric(text: str, name: str) -> float:
    """``name``'s value (its ``generate`` endpoint's series where labelled), 0 when absent."""
    for line in text.splitlines():
        if line.startswith((name + " ", name + "{")):
            head, _, value = line.rpartition(" ")
            if "dynamo_endpoint=" in head and 'dynamo_endpoint="generate"' not in head:
                continue
            return float(value)
    return 0.0


def graph_for(work: Path) -> GraphConfig:
    python = ensure_dynamo()
    model = write_model(work / "model")
    options = GraphOptions(
        prefill=(1, 1, 1),
        decode=(1, 1, 3),
        decode_blocks=48,
        speedup_ratio=4.0,
        planner={
            "adjustment_interval_s": 1.0,
            "scale_up_stabilization_s": 0.0,
            "scale_down_stabilization_s": 0.0,
            "prefill_trend_intervals": 0,
        },
        metrics={"interval_s": 0.5},
    )
    return dynamo_graph(f"bench-dyn-{os.getpid() % 10000}", python, model, work / "graph", options)


def local(session: Session) -> LocalConnector:
    assert isinstance(session.connector, LocalConnector)
    return session.connector


def decode_replicas(session: Session) -> list[ReplicaState]:
    return list(local(session).component_states()["decode"].replicas)


def running(pid: int | None) -> bool:
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def until(check: Callable[[], Any], timeout: float, what: str, interval: float = POLL_S) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(interval)


async def reset_to_one_idle_decode(session: Session) -> None:
    """Decode back to one replica, the removed ones exited, and the remaining one idle in the Snapshot."""
    await session.set_mode(PlannerMode.PAUSED)
    await session.scale("decode", 1, pin=False)
    old = [r.pid for r in decode_replicas(session)]
    await local(session).wait_until_stable(["decode"], 60)
    kept = {r.pid for r in decode_replicas(session)}
    await until(lambda: not any(running(p) for p in old if p not in kept), 30, "removed decode workers to exit")

    def idle() -> bool:
        snap = session.collector.latest
        if snap is None:
            return False
        kv = [v.value for v in snap.signals if v.component == "decode" and v.signal is Signal.KV_USAGE]
        return bool(kv) and kv[0] == 0 and snap.components["decode"].ready_replicas == 1

    await until(idle, 30, "an idle decode in the Snapshot", interval=0.1)


async def one_run(session: Session, base: str, client: httpx.AsyncClient) -> tuple[dict[str, float], int]:
    """One load step; the seconds of each step and the number of failed requests."""
    await reset_to_one_idle_decode(session)
    before = {r.index for r in decode_replicas(session)}
    events = session.subscribe()
    await session.set_mode(PlannerMode.AUTO)
    t_load = time.time()
    load = LoadDriver(base, concurrency=32, max_tokens=200)
    load.start()
    try:
        t_decision = None
        while t_decision is None:
            event = await asyncio.wait_for(events.get(), 60)
            if isinstance(event, DecisionMade):
                dec = event.decision.for_component("decode")
                if dec is not None and dec.target > dec.current and event.decision.timestamp >= t_load:
                    t_decision = event.decision.timestamp
        session.unsubscribe(events)

        def new_replica() -> ReplicaState | None:
            fresh = [r for r in decode_replicas(session) if r.index not in before and running(r.pid)]
            return fresh[0] if fresh else None

        new = await until(new_replica, 30, "the new decode worker's process")
        # when this loop (every 20 ms) first saw its pid running; psutil's create_time is not used: its
        # boot time has whole-second resolution, so it is off from time.time() by up to a second
        t_running = time.time()
        assert new.health_url and new.metrics_url

        async def healthy() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                return (await client.get(new.health_url or "")).status_code == 200
            return False

        await until(healthy, 30, "the new worker's /health 200")
        t_ready = time.time()

        async def routed() -> bool:
            with contextlib.suppress(httpx.HTTPError):
                text = (await client.get(new.metrics_url or "")).text
                return (
                    metric(text, "dynamo_component_requests_total") > 0 or metric(text, "vllm:num_requests_running") > 0
                )
            return False

        await until(routed, 30, "a request routed to the new worker")
        t_routed = time.time()
    finally:
        result = await load.stop()
    return (
        dict(
            zip(
                STEPS,
                (
                    t_decision - t_load,
                    t_running - t_decision,
                    t_ready - t_running,
                    t_routed - t_ready,
                    t_routed - t_load,
                ),
                strict=True,
            )
        ),
        len(result.failed),
    )


def tree(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.Error):
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    return []


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            times = proc.cpu_times()
            total += times.user + times.system
    return total


async def idle_cpu(session: Session, seconds: float) -> dict[str, float]:
    """% of one core over ``seconds`` of the idle graph: this process, circusd, the Dynamo processes."""
    await reset_to_one_idle_decode(session)
    await session.set_mode(PlannerMode.AUTO)
    conn = local(session)
    handle = conn.supervisor.state.circusd
    assert handle is not None
    groups: dict[str, list[psutil.Process]] = {
        "planner-tui (this process)": [psutil.Process()],
        "circusd": [psutil.Process(handle.pid)],
    }
    states = conn.component_states()
    for name in ("frontend", "prefill", "decode"):
        groups[f"dynamo {name}"] = [p for r in states[name].replicas for p in tree(r.pid or 0)]
    start = {k: cpu_seconds(v) for k, v in groups.items()}
    t0 = time.monotonic()
    await asyncio.sleep(seconds)  # the measurement window itself
    wall = time.monotonic() - t0
    return {k: 100.0 * (cpu_seconds(v) - start[k]) / wall for k, v in groups.items()}


def all_pids(session: Session) -> list[psutil.Process]:
    procs = []
    sup = local(session).supervisor
    if sup.state.circusd is not None:
        procs += tree(sup.state.circusd.pid)
    for rec in sup.state.replicas.values():
        if rec.pid:
            procs += tree(rec.pid)
    return procs


async def main(runs: int, idle_s: float) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-dynamo-") as tmp:
        work = Path(tmp)
        os.environ["PLANNER_TUI_STATE_DIR"] = str(work / "state")
        os.environ["PLANNER_TUI_CONFIG_DIR"] = str(work / "config")
        graph = graph_for(work)
        base = frontend_url(graph)
        started = time.monotonic()
        session = await Session.open(graph, mode=PlannerMode.AUTO)
        seen: list[psutil.Process] = []
        figures: list[dict[str, float]] = []
        failed = 0
        try:
            await wait_graph_serving(base, timeout=60)
            print(f"graph serving {time.monotonic() - started:.1f} s after Session.open (cold start)")
            seen += all_pids(session)
            async with httpx.AsyncClient(timeout=2.0, trust_env=False) as client:
                for run in range(runs):
                    steps, lost = await one_run(session, base, client)
                    seen += all_pids(session)
                    figures.append(steps)
                    failed += lost
                    print(f"run {run + 1}: " + ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()))
            cpu = await idle_cpu(session, idle_s)
        finally:
            seen += all_pids(session)
            await session.close(stop_graph=True)
            _gone, left = psutil.wait_procs(seen, timeout=10)
            left = [p for p in left if running(p.pid)]
            for proc in left:
                with contextlib.suppress(psutil.Error):
                    proc.kill()
            if left:
                print(f"ERROR: processes left running (killed): {[p.pid for p in left]}")
        print(f"\n{runs} runs, {failed} failed requests; seconds, median (min - max):")
        for step in STEPS:
            values = [f[step] for f in figures]
            print(f"  {step:<22} {statistics.median(values):6.2f}  ({min(values):.2f} - {max(values):.2f})")
        print(f"\nidle graph, {idle_s:g} s, % of one core:")
        for name, pct in cpu.items():
            print(f"  {name:<28} {pct:6.2f} %")
        return 1 if left else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--idle-s", type=float, default=30.0)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.runs, args.idle_s)))
