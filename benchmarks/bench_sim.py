"""Footprint and throughput of the simulated serving graph's processes.

    python benchmarks/bench_sim.py [--idle-seconds 10] [--rates 250,500,1000,...] [--step-seconds 6]

Prints, for each sim process type (frontend, prefill, decode, aggregated worker), its RSS and its CPU
use while idle (no load), then the highest request rate one frontend sustains on this machine: the
frontend generates at each rate in turn for a few seconds, with two fast aggregated workers, and the
rate counts as sustained when generation keeps up with the profile (within Poisson noise, lag < 0.5 s)
and at least 95% as many requests complete as are generated.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
SIM = [sys.executable, "-m", "planner_tui", "sim"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy in {timeout} s")


class Graph:
    """Sim processes started for the benchmark, all stopped at the end."""

    def __init__(self) -> None:
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> tuple[str, psutil.Process]:
        port = free_port()
        popen = subprocess.Popen(
            [*SIM, *args, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=REPO,
        )
        self.procs.append((name, popen))
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url)
        return url, psutil.Process(popen.pid)

    def close(self) -> None:
        for _, popen in reversed(self.procs):
            popen.terminate()
        for _, popen in self.procs:
            try:
                popen.wait(15)
            except subprocess.TimeoutExpired:
                popen.kill()


def footprint(idle_seconds: float) -> None:
    graph = Graph()
    try:
        front_url, front = graph.start("frontend", ["frontend", "--profile", "constant", "--rps", "0"])
        procs = {"frontend": front}
        for role in ("prefill", "decode", "worker"):
            _, proc = graph.start(
                role,
                ["worker", "--role", role, "--frontend", front_url, "--cold-start", "0"],
                env={"CUDA_VISIBLE_DEVICES": "0"},
            )
            procs[f"{role} worker"] = proc
        time.sleep(2.0)  # let start-up settle
        before = {name: p.cpu_times() for name, p in procs.items()}
        start = time.monotonic()
        time.sleep(idle_seconds)
        elapsed = time.monotonic() - start
        print(f"sim process footprint (idle {idle_seconds:g} s, no load):")
        for name, proc in procs.items():
            after = proc.cpu_times()
            cpu = max(0.0, (after.user + after.system - before[name].user - before[name].system) / elapsed * 100)
            rss = proc.memory_info().rss / 2**20
            print(f"  {name:16s} RSS {rss:6.1f} MB   idle CPU {cpu:5.2f} %")
    finally:
        graph.close()


def sustained_rate(rates: list[float], step_seconds: float) -> None:
    graph = Graph()
    fast = [
        "--cold-start",
        "0",
        "--max-num-seqs",
        "1024",
        "--prefetch",
        "256",
        "--kv-blocks",
        "1000000",
        "--decode-step-ms",
        "2",
        "--decode-ms-per-seq",
        "0",
        "--prefill-tokens-per-s",
        "100000000",
    ]
    try:
        url, front = graph.start(
            "frontend",
            [
                "frontend",
                "--profile",
                "constant",
                "--rps",
                "0",
                "--isl",
                "64",
                "--isl-std",
                "0",
                "--osl",
                "4",
                "--osl-std",
                "0",
            ],
        )
        for _ in range(2):
            graph.start("worker", ["worker", "--role", "worker", "--frontend", url, *fast])
        print(f"highest rate one frontend sustains ({step_seconds:g} s per rate, 2 fast aggregated workers):")
        best = 0.0
        from planner_tui.sim.auth import read_token, token_path_for_url

        token = read_token(token_path_for_url(url))  # changing the profile needs the frontend's control token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        with httpx.Client(timeout=10, headers=headers) as client:
            for rate in rates:
                client.post(url + "/control/profile", json={"kind": "constant", "rps": rate}).raise_for_status()
                time.sleep(1.0)
                first = client.get(url + "/sim/stats").json()
                cpu0 = front.cpu_times()
                start = time.monotonic()
                time.sleep(step_seconds)
                last = client.get(url + "/sim/stats").json()
                elapsed = time.monotonic() - start
                cpu1 = front.cpu_times()
                generated = (last["requests_in"] - first["requests_in"]) / elapsed
                completed = (last["completed"] - first["completed"]) / elapsed
                cpu = (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / elapsed * 100
                lag = float(
                    next(
                        line.split()[-1]
                        for line in client.get(url + "/metrics").text.splitlines()
                        if line.startswith("planner_tui_sim_generation_lag_seconds ")
                    )
                )
                # Poisson arrivals: allow 10% noise on the count, none on keeping up.
                ok = (
                    generated >= 0.9 * rate and completed >= 0.95 * generated and lag < 0.5 and last["in_flight"] < rate
                )
                print(
                    f"  target {rate:7.0f} req/s: generated {generated:7.1f}, completed {completed:7.1f}, "
                    f"in flight {last['in_flight']:5d}, lag {lag:5.2f} s, frontend CPU {cpu:5.1f} %  "
                    + ("ok" if ok else "NOT sustained")
                )
                if not ok:
                    break
                best = rate
        print(f"  => sustained: {best:g} req/s")
    finally:
        graph.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="250,500,1000,2000,4000,8000,16000,32000")
    parser.add_argument("--step-seconds", type=float, default=8.0)
    args = parser.parse_args()
    footprint(args.idle_seconds)
    sustained_rate([float(r) for r in args.rates.split(",")], args.step_seconds)


if __name__ == "__main__":
    main()
