"""Cost of metrics collection: a collector tick, a 256-endpoint scrape, an NVML batch.

    python benchmarks/bench_collector.py [--ticks N] [--replicas N] [--gpus N] [--endpoints N]

Prints:
- collector CPU per tick for 8 GPUs and 64 replicas in the steady state (windows full, ticks paced;
  with the GC settings of the dashboard and ``planner-tui plan`` (``--default-gc``: CPython's); the
  garbage collector's share is printed): real endpoints (one process serving a Dynamo/vLLM
  worker exposition on 64 loopback ports), 64 real pids read
  with psutil, 8 GPUs read through the real NVML bindings over the fake library of the tests
  (compiled here with gcc; on a machine with a driver pass ``--real-nvml``); then the same with a
  simulated DCGM GPU in every replica's exposition, as the demo's workers serve them;
- the wall time and CPU to scrape 256 endpoints in one tick (concurrency 32);
- the NVML batch time per GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from planner_tui.config import parse_graph  # noqa: E402
from planner_tui.metrics import nvml  # noqa: E402
from planner_tui.metrics.collector import Collector  # noqa: E402
from planner_tui.metrics.scrape import Scraper  # noqa: E402
from planner_tui.runtime.gc_tuning import tune_for_long_run  # noqa: E402
from tests.metrics.connector_double import StaticConnector, component, replica  # noqa: E402

TARGET = REPO / "tests" / "metrics" / "metrics_target.py"
FAKE_NVML = REPO / "tests" / "metrics" / "fake_nvml.c"


def start_target(count: int, gpu_gauges: bool = True) -> tuple[subprocess.Popen[str], list[int]]:
    command = [sys.executable, str(TARGET), "--count", str(count)] + ([] if gpu_gauges else ["--no-gpu-gauges"])
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["ports"]


def build_fake_nvml(directory: Path) -> Path:
    gcc = shutil.which("gcc")
    if gcc is None:
        raise SystemExit("gcc is needed to build the fake NVML library")
    target = directory / "libnvidia-ml.so.1"
    subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(target), str(FAKE_NVML)], check=True)
    return target


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(10)


class GcTimer:
    """Time spent in the garbage collector (it runs inside whichever tick allocates)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started


async def bench_collector(
    ticks: int, replicas: int, gpus: int, pace_s: float, gpu_gauges: bool, default_gc: bool
) -> None:
    """Collector ticks in the steady state: paced ``pace_s`` apart, rate and latency windows full.

    The windows are scaled to the pace (10 and 60 ticks, as 10 s and 60 s are at the default 1 s
    interval), so every window holds what it holds in a long run; ticks back to back would instead
    measure windows that only grow, and the garbage collector walking them.
    """
    target, ports = start_target(replicas, gpu_gauges)
    sleepers = [subprocess.Popen(["sleep", "600"]) for _ in range(replicas)]
    try:
        components = []
        per_component = max(1, replicas // 4)
        for c, role in enumerate(("frontend", "prefill", "decode", "worker")):
            chosen = range(c * per_component, min(replicas, (c + 1) * per_component))
            components.append(
                component(
                    role,
                    role,
                    *(
                        replica(
                            role,
                            i - c * per_component,
                            pid=sleepers[i].pid,
                            metrics_url=f"http://127.0.0.1:{ports[i]}/metrics",
                            gpus=(i % gpus,),
                        )
                        for i in chosen
                    ),
                )
            )
        graph = parse_graph(
            f'namespace = "bench"\n[metrics]\nrate_window_s = {10 * pace_s}\nlatency_window_s = {60 * pace_s}\n'
            '[components.x]\nrole = "other"\ncommand = "x"\n',
            "bench.toml",
        )
        connector = StaticConnector("bench", *components)
        collector = Collector(connector, graph, interval_s=1.0)
        for _ in range(62):  # warm up: connections, layouts, and the windows filled as in a long run
            await collector.collect_once()
            await asyncio.sleep(pace_s)
        if not default_gc:
            tune_for_long_run()  # as the dashboard and `planner-tui plan`, where the collector runs
        gc_timer = GcTimer()
        gc.callbacks.append(gc_timer)
        cpu: list[float] = []
        wall: list[float] = []
        for _ in range(ticks):
            c0, w0 = time.process_time(), time.perf_counter()
            snapshot = await collector.collect_once()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            await asyncio.sleep(pace_s)
        gc.callbacks.remove(gc_timer)
        median = statistics.median(cpu)
        nvml_gpus = sum(1 for g in snapshot.gpus if g.origin.value == "nvml")
        print(
            f"collector tick, {nvml_gpus} NVML GPUs + {replicas} replicas"
            f"{' each with a simulated DCGM GPU (the demo)' if gpu_gauges else ''}, steady state: "
            f"CPU median {median * 1000:.1f} ms, p90 {sorted(cpu)[int(len(cpu) * 0.9)] * 1000:.1f} ms, "
            f"mean {statistics.mean(cpu) * 1000:.1f} ms (garbage collector {gc_timer.seconds / ticks * 1000:.2f} ms, "
            f"{'CPython defaults' if default_gc else 'planner-tui settings'}), "
            f"wall median {statistics.median(wall) * 1000:.1f} ms -> {median * 100:.2f}% of one core at a 1 s interval "
            f"({len(snapshot.replica_signals)} replica values, {len(snapshot.errors)} errors)"
        )
        await collector.stop()
    finally:
        stop(target)
        for sleeper in sleepers:
            sleeper.kill()
            sleeper.wait()


async def bench_scrape(endpoints: int) -> None:
    target, ports = start_target(endpoints)
    try:
        urls = [f"http://127.0.0.1:{port}/metrics" for port in ports]
        scraper = Scraper()
        await scraper.scrape(urls, 5.0, 32)
        cpu: list[float] = []
        wall: list[float] = []
        for _ in range(5):
            c0, w0 = time.process_time(), time.perf_counter()
            results = await scraper.scrape(urls, 5.0, 32)
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        await scraper.close()
        ok = sum(r.ok for r in results.values())
        samples = sum(len(r.samples) for r in results.values())
        print(
            f"scrape {endpoints} endpoints (concurrency 32): wall median {statistics.median(wall) * 1000:.0f} ms, "
            f"CPU median {statistics.median(cpu) * 1000:.0f} ms ({ok} ok, {samples} samples)"
        )
    finally:
        stop(target)


def bench_nvml(gpus: int, rounds: int = 200) -> None:
    nvml.read_gpus()
    start = time.perf_counter()
    for _ in range(rounds):
        nvml.read_gpus()
    per_gpu = (time.perf_counter() - start) / rounds / gpus
    print(f"NVML batch ({gpus} GPUs, {nvml.driver_version()}): {per_gpu * 1e6:.0f} us per GPU")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ticks", type=int, default=60)
    parser.add_argument("--pace", type=float, default=0.1, help="seconds between measured ticks")
    parser.add_argument("--replicas", type=int, default=64)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--endpoints", type=int, default=256)
    parser.add_argument("--default-gc", action="store_true", help="keep CPython's GC settings (see gc_tuning)")
    parser.add_argument("--real-nvml", action="store_true", help="use the system's NVML (a real GPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if not args.real_nvml:
            os.environ["FAKE_NVML_GPU_COUNT"] = str(args.gpus)
            nvml.use_library(build_fake_nvml(Path(tmp)))
        gpus = len(nvml.list_gpu_indices())
        for gpu_gauges in (False, True):
            asyncio.run(bench_collector(args.ticks, args.replicas, gpus, args.pace, gpu_gauges, args.default_gc))
        asyncio.run(bench_scrape(args.endpoints))
        bench_nvml(gpus)


if __name__ == "__main__":
    main()
