"""Time of a ``planner-tui profile --quick`` of the embedded demo, end to end.

    python benchmarks/bench_profile.py [--runs 1] [--speedup 8]

Target: under 3 minutes. Each run profiles a copy of the demo graph (its own namespace, frontend port
and port range, so a running demo is not disturbed) as a user does, interpreter start, graph bring-up,
sweep and shutdown included, in a temporary state directory; prints the wall time, the points measured
and the capacity found. Every process started is stopped by the command itself.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from planner_tui.config import demo_graph_path

TARGET_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_copy(directory: Path) -> Path:
    text = demo_graph_path().read_text(encoding="utf-8")
    base = 24000 + free_port() % 30000
    text = text.replace('namespace = "demo"', 'namespace = "bench-profile"')
    text = re.sub(r"port_range = \[\d+, \d+\]", f"port_range = [{base}, {base + 99}]", text)
    text = text.replace("port = 21080", f"port = {free_port()}")
    path = directory / "demo.toml"
    path.write_text(text, encoding="utf-8")
    return path


def one_run(speedup: float) -> tuple[float, dict[str, object]]:
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        root = Path(tmp)
        graph = demo_copy(root)
        out = root / "profile.toml"
        env = dict(os.environ, PLANNER_TUI_STATE_DIR=str(root / "state"), PLANNER_TUI_CONFIG_DIR=str(root / "cfg"))
        command = [sys.executable, "-m", "planner_tui", "profile", "--graph", str(graph), "--quick", "--no-chart"]
        command += ["--out", str(out), "--speedup", f"{speedup:g}"]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        elapsed = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"profile failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
        sweep = json.loads(out.with_name("profile.sweep.json").read_text(encoding="utf-8"))
        return elapsed, sweep


def main(runs: int, speedup: float) -> None:
    times = []
    for index in range(runs):
        elapsed, sweep = one_run(speedup)
        times.append(elapsed)
        points = sweep["points"]
        capacity = {
            name: ", ".join(f"{c['length']:g}: {c['tokens_per_s']:.0f}" for c in caps)
            for name, caps in sweep["capacity"].items()
        }
        print(f"run {index + 1}: {elapsed:6.1f} s, {len(points)} points, tokens/s per replica {capacity}")
    verdict = "within" if statistics.median(times) < TARGET_S else "OVER"
    print(
        f"profile --quick of the demo (speed-up {speedup:g}): median {statistics.median(times):.1f} s, "
        f"min {min(times):.1f}, max {max(times):.1f} (n={len(times)}); {verdict} the {TARGET_S:.0f} s target"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--speedup", type=float, default=8.0)
    args = parser.parse_args()
    main(args.runs, args.speedup)
