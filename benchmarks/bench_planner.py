"""The planner's cost per decision and its reaction time on the demo graph.

    python benchmarks/bench_planner.py [--components 8,256] [--ticks 200] [--reaction] [--speedup 1]

Prints the time of one ``plan()`` (the pure engine: decide plus the next state) for graphs of N
components (a frontend and N - 1 autoscaled workers) with two replicas each (target: under 5 ms for
256, the most a graph may have), and with ``--reaction``
the time from a load step (2 -> 18 req/s on the demo's simulated frontend) to the planner's scale-up
decision and to the new decode replica being ready. ``--speedup`` runs the sim faster (its times are
reported in simulated seconds too).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner_tui.config import GraphConfig, demo_graph_path, load_graph, validate_graph
from planner_tui.model import ComponentState, Phase, ReplicaState, Signal, SignalValue, Snapshot
from planner_tui.planner import EngineConfig, PlannerState, plan


def big_graph(n: int) -> GraphConfig:
    """A graph of ``n`` components: one frontend and ``n - 1`` autoscaled prefill/decode workers."""
    components: dict[str, Any] = {"frontend": {"role": "frontend", "command": "x"}}
    for i in range(n - 1):
        role = ("prefill", "decode")[i % 2]
        components[f"{role}-{i}"] = {
            "role": role,
            "command": "x",
            "gpus_per_replica": 1,
            "min_replicas": 1,
            "max_replicas": 8,
        }
    return validate_graph(
        {
            "namespace": "bench",
            "planner": {"max_gpu_budget": n * 3, "scale_down_stabilization_s": 60},
            "components": components,
        }
    )


def snapshot_for(graph: GraphConfig, counts: dict[str, int], now: float, rng: random.Random) -> Snapshot:
    comps = {}
    values = []
    for name, cfg in graph.components.items():
        count = counts.get(name, 1)
        replicas = tuple(ReplicaState(name, i, Phase.READY) for i in range(count))
        comps[name] = ComponentState(cfg.to_spec(name), count, replicas)
        for replica in replicas:
            values.append(SignalValue(name, Signal.KV_USAGE, rng.uniform(0.2, 1.0), now, replica=replica.name))
            values.append(SignalValue(name, Signal.QUEUE_DEPTH, rng.uniform(0, 8), now, replica=replica.name))
            values.append(SignalValue(name, Signal.WAITING, rng.uniform(0, 4), now, replica=replica.name))
    return Snapshot(now, graph.namespace, comps, replica_signals=tuple(values))


def bench_decide(n: int, ticks: int) -> None:
    graph = big_graph(n)
    config = EngineConfig.of(graph)
    rng = random.Random(1)
    counts = {name: 2 for name in graph.components}
    state = PlannerState()
    cpu, wall = [], []
    for i in range(ticks):
        snap = snapshot_for(graph, counts, 1000.0 + 10 * i, rng)  # one at a time, as from the collector
        cpu_start, wall_start = time.thread_time(), time.perf_counter()
        decision, state = plan(snap, state, config, 1000.0 + 10 * i)
        cpu.append((time.thread_time() - cpu_start) * 1000)
        wall.append((time.perf_counter() - wall_start) * 1000)
    assert len(decision.components) == n - 1
    cpu.sort()
    print(
        f"plan() with {n:>3} components ({n - 1} autoscaled, {n * 2} replicas, {n * 6} signal values) over {ticks} "
        "ticks: "
        f"CPU median {statistics.median(cpu):.2f} ms, p95 {cpu[int(0.95 * len(cpu)) - 1]:.2f} ms; "
        f"wall median {statistics.median(wall):.2f} ms (wall includes waiting for a busy CPU)"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bench_reaction(speedup: float) -> None:
    from planner_tui.model import Outcome
    from planner_tui.runtime import DecisionMade, Session
    from planner_tui.runtime.speedup import sped_up
    from planner_tui.sim.control import set_profile

    data = load_graph(demo_graph_path()).model_dump(mode="json", exclude_none=True)
    data["namespace"] = "bench-reaction"
    data["components"]["frontend"]["port"] = free_port()
    base = 24000 + free_port() % 30000
    data["resources"]["port_range"] = [base, base + 99]
    graph = sped_up(validate_graph(data), speedup)
    print(
        f"reaction on the demo graph (speedup {speedup:g}: decisions every {graph.planner.adjustment_interval_s:g} s, "
        f"metrics every {graph.metrics.interval_s:g} s, 3 simulated s cold start)"
    )
    session = await Session.open(graph)
    url = session.simulated_frontend_url()
    assert url is not None
    try:
        await set_profile(url, {"kind": "constant", "rps": 2})
        events = session.subscribe()
        # settle: decode at 1 replica, ready, and a decision that holds it there
        while True:
            event = await asyncio.wait_for(events.get(), 120)
            if isinstance(event, DecisionMade):
                dec = event.decision.for_component("decode")
                snap = session.latest_snapshot
                if dec and dec.current == dec.target == 1 and snap and snap.components["decode"].ready_replicas == 1:
                    break
        await set_profile(url, {"kind": "constant", "rps": 18})
        step = time.monotonic()
        decided = None
        while True:
            event = await asyncio.wait_for(events.get(), 120)
            if decided is None and isinstance(event, DecisionMade):
                dec = event.decision.for_component("decode")
                if dec and dec.target > dec.current and dec.outcome is Outcome.APPLIED:
                    decided = time.monotonic() - step
            snap = session.latest_snapshot
            if decided is not None and snap and snap.components["decode"].ready_replicas >= 2:
                ready = time.monotonic() - step
                break
        print(
            f"load step 2 -> 18 req/s: scale-up decided after {decided:.1f} s ({decided * speedup:.1f} simulated s), "
            f"new decode replica ready after {ready:.1f} s ({ready * speedup:.1f} simulated s)"
        )
    finally:
        await session.close(stop_graph=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--components", default="8,256")
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--reaction", action="store_true", help="also measure the reaction time on the demo graph")
    parser.add_argument("--speedup", type=float, default=1.0)
    args = parser.parse_args()
    for n in (int(x) for x in args.components.split(",")):
        bench_decide(n, args.ticks)
    if args.reaction:
        with tempfile.TemporaryDirectory() as state:
            os.environ.setdefault("PLANNER_TUI_STATE_DIR", state)
            asyncio.run(bench_reaction(args.speedup))


if __name__ == "__main__":
    main()
