"""Start-up cost of the command line and of validating a graph file.

    python benchmarks/bench_startup.py [--runs N]

Prints the median wall time of ``planner-tui --version`` and ``config check`` as processes, and of
``load_graph`` on the demo graph in-process.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def time_process(args: list[str], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "planner_tui", *args], check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    demo = str(REPO / "examples" / "demo.toml")
    print(f"planner-tui --version        median {time_process(['--version'], runs) * 1000:7.1f} ms ({runs} runs)")
    print(f"planner-tui config check     median {time_process(['config', 'check', demo], runs) * 1000:7.1f} ms")
    from planner_tui.config import load_graph

    samples = []
    for _ in range(200):
        start = time.perf_counter()
        load_graph(demo)
        samples.append(time.perf_counter() - start)
    print(f"load_graph(demo.toml)        median {statistics.median(samples) * 1e6:7.1f} us (200 runs)")


if __name__ == "__main__":
    main()
