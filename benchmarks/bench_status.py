"""``planner-tui status`` latency: reading the owner's published Snapshot vs collecting without an owner.

    python benchmarks/bench_status.py [--runs 10] [--replicas 8]

Target: ``status`` answers within 0.3 s while a graph runs (its owner publishes Snapshots). The
benchmark starts a graph of idle replicas under a Session (the owner) in this process, times
``planner-tui status --json`` as a whole command (interpreter start included) ``--runs`` times, then
closes the owner leaving the graph running and times the read-only collecting path. Everything runs
in a temporary state directory; every process started is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

from planner_tui.config import GraphConfig, validate_graph

SLEEPER = [
    "-c",
    "import http.server, sys; http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), "
    "http.server.SimpleHTTPRequestHandler).serve_forever()",
    "{port}",
]


def graph(replicas: int) -> GraphConfig:
    return validate_graph(
        {
            "namespace": "bench-status",
            "resources": {"gpus": list(range(replicas)), "port_range": [43000, 43099]},
            "planner": {"mode": "paused"},
            "components": {
                "decode": {
                    "role": "decode",
                    "command": "{python}",
                    "args": SLEEPER,
                    "gpus_per_replica": 1,
                    "min_replicas": 1,
                    "max_replicas": replicas,
                    "initial_replicas": replicas,
                    "health_url": "http://127.0.0.1:{port}/",
                    "graceful_timeout_s": 5,
                }
            },
        }
    )


def time_status(runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "planner_tui", "status", "--json", "--namespace", "bench-status"],
            capture_output=True,
            text=True,
            check=False,
        )
        out.append(time.perf_counter() - start)
        if result.returncode != 0:
            raise SystemExit(f"status failed: {result.stderr}")
    return out


def show(label: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    print(f"{label:<44} median {statistics.median(ms):6.0f} ms  min {ms[0]:6.0f}  max {ms[-1]:6.0f}  (n={len(ms)})")


async def main(runs: int, replicas: int) -> None:
    from planner_tui.connectors.local import LocalConnector
    from planner_tui.runtime import Session

    session = await Session.open(graph(replicas))
    try:
        while session.latest_snapshot is None:
            await session.subscribe().get()
        show(f"status, owner publishing ({replicas} replicas)", await asyncio.to_thread(time_status, runs))
    finally:
        await session.close(stop_graph=False)
    show("status, no owner (collects read-only, 2 ticks)", await asyncio.to_thread(time_status, max(3, runs // 3)))
    connector = await LocalConnector.attach("bench-status")
    await connector.shutdown(stop_graph=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    print(f"{'(a bare python interpreter start)':<44} {1000 * (time.perf_counter() - start):6.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PLANNER_TUI_STATE_DIR"] = tmp
        asyncio.run(main(args.runs, args.replicas))
