"""Cost of each scrape path: the fast HTTP client vs httpx, and each Prometheus-text parse path.

    python benchmarks/bench_scrape_paths.py [--rounds N] [--replicas 8,64]

Prints CPU medians (``time.process_time``: this process only, the target runs in another) of:

- **fetch**: one round of GETs of every replica's ``/metrics`` (concurrency 32, kept-alive
  connections, no parsing) through the fast client (:class:`~planner_tui.metrics.http11.Http11Pool`)
  and through httpx (the reference), interleaved round by round; per round and per request;
- **parse**: one text through prometheus_client's parser (the reference), the fast regex parser
  (:func:`~planner_tui.metrics.exposition.parse_fast`) and the layout path (a
  :class:`~planner_tui.metrics.exposition_layout.TargetParser` in the steady state), for a
  demo-sized worker exposition and a vLLM-sized one, all names wanted and the collector's few;
- **scrape**: one whole :meth:`Scraper.scrape` tick (fetch and parse) with its default path and with
  every request through httpx, interleaved;

and, for each, the share of one core at a 1 s scrape interval. Run it twice (or more) on a shared
machine and read the medians: figures move with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from planner_tui.metrics.exposition import parse_fast, parse_with_prometheus_client  # noqa: E402
from planner_tui.metrics.exposition_layout import TargetParser  # noqa: E402
from planner_tui.metrics.http11 import Http11Pool  # noqa: E402
from planner_tui.metrics.scrape import Scraper  # noqa: E402

TARGET = REPO / "tests" / "metrics" / "metrics_target.py"
#: what the collector asks for from a worker (gauges, a counter, two histograms, DCGM gauges)
COLLECTOR_WANTED = frozenset(
    {
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:kv_cache_usage_perc",
        "dynamo_component_requests_total",
        "vllm:time_to_first_token_seconds_bucket",
        "vllm:time_to_first_token_seconds_sum",
        "vllm:time_to_first_token_seconds_count",
        "DCGM_FI_DEV_GPU_UTIL",
        "DCGM_FI_DEV_FB_USED",
        "DCGM_FI_DEV_FB_FREE",
    }
)


def start_target(count: int) -> tuple[subprocess.Popen[str], list[int]]:
    process = subprocess.Popen([sys.executable, str(TARGET), "--count", str(count)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, json.loads(process.stdout.readline())["ports"]


def vllm_sized_text(tick: int) -> str:
    """A worker exposition the size of a real vLLM one (~25 KB: a dozen histograms, process gauges)."""
    lines: list[str] = []
    bounds = [f"{0.001 * 2**i:g}" for i in range(24)] + ["+Inf"]
    for h in range(12):
        name = f"vllm:histogram_{h}_seconds"
        lines += [f"# HELP {name} A latency.", f"# TYPE {name} histogram"]
        for i, bound in enumerate(bounds):
            lines.append(f'{name}_bucket{{engine="0",model_name="meta-llama/Llama-3.1-8B",le="{bound}"}} {tick * i}')
        lines += [f'{name}_sum{{engine="0",model_name="meta-llama/Llama-3.1-8B"}} {tick * 0.25}']
        lines += [f'{name}_count{{engine="0",model_name="meta-llama/Llama-3.1-8B"}} {tick * 24}']
    for g in range(40):
        name = f"process_or_engine_gauge_{g}"
        lines += [f"# HELP {name} A gauge.", f"# TYPE {name} gauge", f'{name}{{engine="0"}} {tick % 97 + g}.5']
    return "\n".join(lines) + "\n"


def demo_sized_text(tick: int) -> str:
    sys.path.insert(0, str(TARGET.parent))
    from metrics_target import synthetic  # type: ignore[import-not-found]

    text: str = synthetic(21000, tick)
    return text


def cpu_per_call(function: Callable[[], object], repeat: int) -> float:
    started = time.process_time()
    for _ in range(repeat):
        function()
    return (time.process_time() - started) / repeat


def bench_parse(rounds: int) -> None:
    for label, make in (("demo-sized", demo_sized_text), ("vLLM-sized", vllm_sized_text)):
        texts = [make(tick) for tick in range(1, 9)]
        for wanted_label, wanted in (("all names", None), ("the collector's", COLLECTOR_WANTED)):
            layout = TargetParser()
            for text in texts:  # warm: the layout is built (compiled in a thread when long)
                layout.read(text, wanted)
            if layout.compiling is not None:
                layout.compiling.result()
            layout.read(texts[0], wanted)
            paths: dict[str, Callable[[str], object]] = {
                "prometheus_client": lambda text, w=wanted: parse_with_prometheus_client(text, w),
                "fast": lambda text, w=wanted: parse_fast(text, w),
                "layout": lambda text, w=wanted, p=layout: p.read(text, w),
            }
            figures: dict[str, list[float]] = {name: [] for name in paths}
            for round_ in range(rounds):
                for name, path in paths.items():  # interleaved: the machine's load hits each path alike
                    text = texts[round_ % len(texts)]
                    figures[name].append(cpu_per_call(lambda t=text, f=path: f(t), 20))
            size = len(texts[0])
            cells = ", ".join(f"{name} {statistics.median(values) * 1e6:.0f} us" for name, values in figures.items())
            print(f"parse {label} ({size} B, {wanted_label}): {cells}")


async def timed_rounds(rounds: int, paths: dict[str, Callable[[], Awaitable[object]]]) -> dict[str, float]:
    """Median CPU seconds of one call of each path, the paths interleaved round by round."""
    figures: dict[str, list[float]] = {name: [] for name in paths}
    for path in paths.values():
        await path()  # warm: connections open, layouts built
        await path()
    for _ in range(rounds):
        for name, path in paths.items():
            started = time.process_time()
            await path()
            figures[name].append(time.process_time() - started)
            await asyncio.sleep(0.01)
    return {name: statistics.median(values) for name, values in figures.items()}


async def bench_fetch_and_scrape(replicas: int, rounds: int, ports: list[int]) -> None:
    urls = [f"http://127.0.0.1:{port}/metrics" for port in ports[:replicas]]
    limit = asyncio.Semaphore(32)
    pool = Http11Pool()
    client = httpx.AsyncClient(limits=httpx.Limits(max_connections=32, max_keepalive_connections=32), trust_env=False)

    async def with_pool(url: str) -> None:
        async with limit:
            await pool.get(url, 5.0)

    async def with_httpx(url: str) -> None:
        async with limit, client.stream("GET", url, timeout=5.0) as response:
            await response.aread()

    fetch = await timed_rounds(
        rounds,
        {
            "fast client": lambda: asyncio.gather(*(with_pool(u) for u in urls)),
            "httpx": lambda: asyncio.gather(*(with_httpx(u) for u in urls)),
        },
    )
    print(
        f"fetch {replicas} replicas: "
        + ", ".join(
            f"{name} {cpu * 1000:.2f} ms/round ({cpu / replicas * 1e6:.0f} us/request, "
            f"{cpu * 100:.2f}% of a core at 1 s)"
            for name, cpu in fetch.items()
        )
    )
    await pool.close()
    default = Scraper()
    reference = Scraper(httpx.AsyncClient(trust_env=False))
    scrape = await timed_rounds(
        rounds,
        {
            "default": lambda: default.scrape(urls, 5.0, 32, COLLECTOR_WANTED),
            "all httpx": lambda: reference.scrape(urls, 5.0, 32, COLLECTOR_WANTED),
        },
    )
    print(
        f"scrape tick {replicas} replicas (fetch + parse, collector's names): "
        + ", ".join(f"{name} {cpu * 1000:.2f} ms ({cpu * 100:.2f}% of a core at 1 s)" for name, cpu in scrape.items())
    )
    await default.close()
    await reference.close()
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--replicas", default="8,64")
    parser.add_argument("--skip-parse", action="store_true")
    args = parser.parse_args()
    counts = [int(n) for n in args.replicas.split(",")]
    if not args.skip_parse:
        bench_parse(args.rounds)
    target, ports = start_target(max(counts))
    try:
        for count in counts:
            asyncio.run(bench_fetch_and_scrape(count, args.rounds, ports))
    finally:
        target.terminate()
        target.wait(10)


if __name__ == "__main__":
    main()
