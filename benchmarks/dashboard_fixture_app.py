"""The dashboard on generated data at a fixed refresh, for the benchmark (no graph is started).

    python benchmarks/dashboard_fixture_app.py [--gpus 8] [--prefill 15] [--decode 16] [--interval 1]

A StaticSource publishes a new Snapshot (GPUs, replicas, signals) every ``--interval`` seconds, like
the collector does, so the dashboard redraws everything at that rate.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping

from planner_tui.model import Snapshot
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.sample_data import sample_decisions, sample_graph, sample_snapshot
from planner_tui.tui.static_source import StaticSource


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gpus", type=int, default=8)
    parser.add_argument("--prefill", type=int, default=15)
    parser.add_argument("--decode", type=int, default=16)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    graph = sample_graph(gpus=args.gpus, prefill_max=max(1, args.prefill), decode_max=max(1, args.decode))
    counts = {"frontend": 1, "prefill": args.prefill, "decode": args.decode}

    def frame(now: float, current: Mapping[str, int]) -> Snapshot:
        return sample_snapshot(now, graph=graph, counts=current)

    source = StaticSource(
        graph,
        frame(time.time(), counts),
        decisions=sample_decisions(time.time()),
        frames=frame,
        interval_s=args.interval,
        next_tick_at=None,
    )
    DashboardApp(source, remember_theme=False).run()


if __name__ == "__main__":
    main()
