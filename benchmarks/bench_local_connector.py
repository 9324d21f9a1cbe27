"""Local connector figures: circusd start, scale 1->8->1, scale-to-process latency, crash -> shown
crashed, 1 GB log tail.

    python benchmarks/bench_local_connector.py [--runs 20] [--kills 8]

Targets (2-core machine): a new replica's process running within 150 ms of ``scale_component``
(p50) and the last 100 lines of a 1 GB log in under 50 ms. A replica killed while the graph is steady (the
health monitor at its slow pace) is shown crashed within a fraction of its steady interval: circus's
reap event wakes the monitor. Everything runs in a temporary state
directory that is removed afterwards; every process started is stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psutil

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.connectors.local import LocalConnector, logs
from planner_tui.connectors.local.circusd import Circusd
from planner_tui.model import Phase

# A replica that just sleeps: the figures measure the connector and circus, not the program.
SLEEPER = ["-c", "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(3600)"]


def graph(namespace: str) -> GraphConfig:
    return validate_graph(
        {
            "namespace": namespace,
            "resources": {"gpus": list(range(8)), "port_range": [41000, 41099]},
            "components": {
                "decode": {
                    "role": "decode",
                    "command": "{python}",
                    "args": SLEEPER,
                    "gpus_per_replica": 1,
                    "min_replicas": 1,
                    "max_replicas": 8,
                    "graceful_timeout_s": 5,
                }
            },
        }
    )


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


async def wait_for(check, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("benchmark condition not reached")
        await asyncio.sleep(0.002)


def running(pid: int | None) -> bool:
    try:
        return pid is not None and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def bench_crash(conn: LocalConnector, kills: int) -> None:
    """SIGKILL a replica of a steady graph at a random moment; time until the connector shows it crashed."""
    await conn.scale_component("decode", 4)

    def replicas() -> list:  # type: ignore[type-arg]
        return conn.component_states()["decode"].replicas

    noticed = []
    for kill in range(kills):
        await wait_for(lambda: len(replicas()) == 4 and all(r.phase is Phase.READY for r in replicas()))
        await asyncio.sleep(2.5 + random.random())  # past the monitor's settle time: it is at its steady pace
        victim = replicas()[kill % 4]
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGKILL)
        started = time.perf_counter()

        def shown_crashed(name: str = victim.name, pid: int = victim.pid) -> bool:
            now = next((r for r in replicas() if r.name == name), None)
            return now is None or now.phase in (Phase.CRASHED, Phase.FAILED) or now.pid != pid

        await wait_for(shown_crashed)
        noticed.append(time.perf_counter() - started)
    print(
        f"replica killed -> shown crashed over {kills} kills (graph steady): p50 "
        f"{ms(statistics.median(noticed)).strip()}, max {ms(max(noticed)).strip()}"
    )
    await conn.scale_component("decode", 1)


async def bench_connector(state_dir: Path, runs: int, kills: int) -> None:
    started = time.perf_counter()
    runner = Circusd(state_dir / "bare")
    handle = await runner.start()
    circusd_up = time.perf_counter() - started
    await runner.stop(handle)

    started = time.perf_counter()
    conn = await LocalConnector.create("bench", graph=graph("bench"), state_dir=state_dir)
    create_s = time.perf_counter() - started
    try:
        print(f"circusd start to first reply     {ms(circusd_up)}")
        print(f"connector create (circusd + 1)   {ms(create_s)}")

        def pids() -> list[int | None]:
            return [r.pid for r in conn.component_states()["decode"].replicas]

        started = time.perf_counter()
        await conn.scale_component("decode", 8)
        returned = time.perf_counter() - started
        await wait_for(lambda: len(pids()) == 8 and all(running(p) for p in pids()))
        up8 = time.perf_counter() - started
        eight = pids()
        started = time.perf_counter()
        await conn.scale_component("decode", 1)
        down_returned = time.perf_counter() - started
        await wait_for(lambda: len(pids()) == 1 and not any(running(p) for p in eight[1:]))
        down1 = time.perf_counter() - started
        print(f"scale 1->8: call returned        {ms(returned)}; all 8 processes running {ms(up8)}")
        print(f"scale 8->1: call returned        {ms(down_returned)}; 7 replicas exited and freed {ms(down1)}")

        latencies = []
        for _ in range(runs):
            started = time.perf_counter()
            await conn.scale_component("decode", 2)
            await wait_for(lambda: len(pids()) == 2 and running(pids()[1]))
            latencies.append(time.perf_counter() - started)
            await conn.scale_component("decode", 1)
            await wait_for(lambda: len(pids()) == 1)
        print(
            f"scale_component -> new process running over {runs} runs: "
            f"p50 {ms(statistics.median(latencies)).strip()}, p95 {ms(pct(latencies, 0.95)).strip()}, "
            f"max {ms(max(latencies)).strip()}  (target p50 < 150 ms)"
        )
        if kills:
            await bench_crash(conn, kills)
    finally:
        await conn.shutdown(stop_graph=True)


def write_big_log(path: Path, size: int) -> None:
    now = time.time()
    block = "".join(f"{now + i / 1000:.6f} decode worker line {i} " + "x" * 60 + "\n" for i in range(10_000)).encode()
    with open(path, "wb") as handle:
        if size < len(block):
            handle.write(block[: block.rindex(b"\n", 0, size) + 1])
            return
        written = 0
        while written < size:
            handle.write(block)
            written += len(block)


def real_lines(path: Path) -> int:
    return 100 if path.stat().st_size > 100_000 else path.read_bytes().count(b"\n")


def bench_tail(tmp: Path) -> None:
    for label, size in (("1 KB", 1024), ("1 GB", 1024**3)):
        path = tmp / f"bench_{label.replace(' ', '')}.out.log"
        write_big_log(path, size)
        source = logs.LogSource("decode", "decode-0", "stdout", path)
        times = []
        for _ in range(20):
            started = time.perf_counter()
            lines = logs.merged_tail([source], 100)
            times.append(time.perf_counter() - started)
        assert len(lines) == min(100, real_lines(path))
        real = path.stat().st_size
        print(
            f"tail 100 lines of a {label} log ({real:,} bytes): p50 {ms(statistics.median(times)).strip()}, "
            f"max {ms(max(times)).strip()}  (target < 50 ms)"
        )
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--kills", type=int, default=8, help="replicas killed for the crash -> shown figure")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="bench-local-") as tmp:
        asyncio.run(bench_connector(Path(tmp) / "state", args.runs, args.kills))
        bench_tail(Path(tmp))


if __name__ == "__main__":
    main()
