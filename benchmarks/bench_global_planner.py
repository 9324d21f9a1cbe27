"""The Global Planner's request latency under 100 concurrent callers, and what one core of it holds.

    python benchmarks/bench_global_planner.py [--callers 100] [--seconds 5] [--runs 3] [--tokens]

Starts ``planner-tui global-planner --no-operation`` as its own process pinned to one CPU core
(``taskset``; one uvicorn worker), with the rate limit off, and drives it from this process (pinned
to another core where there is one) with ``--callers`` concurrent callers, each sending scale
requests back to back on its own keep-alive connection for ``--seconds``. Every answer is on disk
(the audit log, fsynced) before it is sent. Prints, per run and as min/median/max over the runs,
the latency p50/p99 and the requests per second the service answered. ``--tokens`` turns on bearer
authentication (a token per caller namespace).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner_tui.globalplanner.tokens import add_token, new_token
from planner_tui.sim.http import HttpError, JsonClient

NS = "bench-gp"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_service(port: int, state: Path, token_file: Path | None) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "planner_tui", "global-planner", "--no-operation", "--port", str(port)]
    command += ["--rate-limit", "0", "--log-level", "warning"]
    if token_file is not None:
        command += ["--token-file", str(token_file)]
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        command = ["taskset", "-c", "0", *command]
    env = os.environ | {"DYN_NAMESPACE": NS, "PLANNER_TUI_STATE_DIR": str(state)}
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/{NS}/GlobalPlanner/health", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not start")


async def drive(base: str, callers: int, seconds: float, tokens: dict[str, str]) -> tuple[list[float], int]:
    """Latencies (s) of every answered request, and the count of non-200 answers.

    Each caller is one keep-alive connection of the sim's small JSON client (httpx would spend more
    CPU per request than the service does, and measure itself).
    """
    latencies: list[float] = []
    bad = 0
    path = f"/{NS}/GlobalPlanner/scale_request"
    stop_at = time.monotonic() + seconds

    async def caller(i: int) -> None:
        nonlocal bad
        namespace = f"app-{i % 10}"
        body = {
            "caller_namespace": namespace,
            "graph_deployment_name": "demo",
            "k8s_namespace": "default",
            "target_replicas": [{"sub_component_type": "decode", "desired_replicas": 2}],
        }
        client = JsonClient(base, tokens.get(namespace))
        try:
            while time.monotonic() < stop_at:
                started = time.perf_counter()
                try:
                    await client.request("POST", path, body, timeout=30)
                except HttpError:
                    bad += 1
                latencies.append(time.perf_counter() - started)
        finally:
            await client.close()

    await asyncio.gather(*(caller(i) for i in range(callers)))
    return latencies, bad


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--callers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--tokens", action="store_true", help="callers authenticate with bearer tokens")
    args = parser.parse_args()
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {1})  # the callers on another core than the service
    p50s, p99s, rates = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tokens: dict[str, str] = {}
        token_file = None
        if args.tokens:
            token_file = Path(tmp) / "tokens.toml"
            for i in range(10):
                tokens[f"app-{i}"] = new_token()
                add_token(token_file, "namespace", f"app-{i}", tokens[f"app-{i}"])
        port = free_port()
        service = start_service(port, Path(tmp) / "state", token_file)
        url = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(drive(url, args.callers, 1.0, tokens))  # warm up
            for run in range(args.runs):
                latencies, bad = asyncio.run(drive(url, args.callers, args.seconds, tokens))
                p50, p99 = quantile(latencies, 0.5) * 1000, quantile(latencies, 0.99) * 1000
                rate = len(latencies) / args.seconds
                p50s.append(p50)
                p99s.append(p99)
                rates.append(rate)
                print(
                    f"run {run + 1}: {len(latencies)} requests ({bad} not 200) from {args.callers} callers in "
                    f"{args.seconds:g} s: p50 {p50:.1f} ms, p99 {p99:.1f} ms, {rate:.0f} req/s"
                )
        finally:
            service.terminate()
            service.wait(30)
    auth = "with bearer tokens" if args.tokens else "no tokens"
    print(f"\nno-operation, {args.callers} concurrent callers, one core, audit log fsynced, {auth}:")
    for name, values, unit in (("p50", p50s, "ms"), ("p99", p99s, "ms"), ("throughput", rates, "req/s")):
        print(
            f"  {name:>10}: min {min(values):.1f}  median {statistics.median(values):.1f}  max {max(values):.1f} {unit}"
        )


if __name__ == "__main__":
    main()
