"""compare's speed: one hour of recorded demo traffic per candidate (target: under 60 s on one core).

    python benchmarks/bench_compare.py [--hours 1] [--candidates 3]

1. Makes an hour of demo traffic as the recorder records it: the demo's sine profile (seed 7) through the
   virtual graph, its frontend's metrics read once per second by the recorder's own WorkloadSampler, and
   writes it, with the baseline's Snapshots and decisions, to a recording file (prints its size: what an
   hour of a demo-sized graph costs on disk, without the host and process figures a live Snapshot adds).
2. Reads the recording back and runs each candidate against its workload, timing each (CPU seconds of
   this process: one core).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from planner_tui.cli.compare_cmd import graph_workload, worker_specs
from planner_tui.compare.candidates import BASELINE, make_candidate, parse_candidate
from planner_tui.compare.collect import samples_of
from planner_tui.compare.run import DEFAULT_EPOCH, run_candidate
from planner_tui.compare.workload import recording_source
from planner_tui.config import demo_graph_path, load_graph
from planner_tui.metrics.snapshot_json import snapshot_to_dict
from planner_tui.planner.records import decision_to_dict
from planner_tui.recording import RecordingWriter, WorkloadInterval, WorkloadSampler, read_recording
from planner_tui.recording.recorder import FORMAT_VERSION
from planner_tui.sim.profiles import ArrivalSchedule
from planner_tui.sim.virtual import VirtualGraph

CANDIDATES = (
    "eager: decode_kv_scale_up=0.75, prefill_queue_scale_up=3",
    "slow: adjustment_interval_s=20, scale_down_stabilization_s=60",
    "throughput: policy=throughput",
    "budget4: max_gpu_budget=4",
)


def demo_workload(seconds: float) -> list[WorkloadInterval]:
    """The demo's traffic per second, as the recorder's sampler reads it from the frontend's metrics."""
    graph = load_graph(demo_graph_path())
    workload, seed = graph_workload(graph)
    virtual = VirtualGraph(worker_specs(graph), ArrivalSchedule(workload, random.Random(seed), start=0.0))
    for spec in worker_specs(graph):
        virtual.scale(spec.name, 2)
    sampler = WorkloadSampler()
    intervals = []
    t = 0.0
    while t < seconds:
        virtual.advance(t)
        interval = sampler.feed(DEFAULT_EPOCH + t, samples_of(virtual.frontend_families()))
        if interval is not None:
            intervals.append(interval)
        virtual.take_results()
        t += 1.0
    return intervals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--candidates", type=int, default=3, help="candidates besides the baseline")
    args = parser.parse_args()
    seconds = args.hours * 3600
    graph = load_graph(demo_graph_path())
    workers = worker_specs(graph)

    started = time.process_time()
    intervals = demo_workload(seconds)
    print(
        f"demo traffic: {len(intervals)} intervals, {sum(w.arrivals for w in intervals)} requests "
        f"({time.process_time() - started:.1f} s CPU to make)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "demo-hour.ptrec"
        with RecordingWriter(path) as writer:
            writer.add(
                "header",
                DEFAULT_EPOCH,
                {
                    "version": FORMAT_VERSION,
                    "graph": graph.model_dump(mode="json"),
                    "namespace": graph.namespace,
                    "started": DEFAULT_EPOCH,
                    "recorded_by": "bench",
                },
            )
            by_start = {round(w.start - DEFAULT_EPOCH): w for w in intervals}

            def on_snapshot(snapshot) -> None:  # type: ignore[no-untyped-def]
                writer.add("snapshot", snapshot.timestamp, snapshot_to_dict(snapshot))
                interval = by_start.get(round(snapshot.timestamp - DEFAULT_EPOCH) - 1)
                if interval is not None:
                    writer.add("workload", interval.start, interval.to_dict())
                writer.flush()

            def on_decision(decision) -> None:  # type: ignore[no-untyped-def]
                writer.add("decision", decision.timestamp, decision_to_dict(decision))

            source = recording_source(intervals, "demo", None)
            run_candidate(
                graph,
                workers,
                source,
                make_candidate(BASELINE, {}, graph.planner),
                seed=7,
                on_snapshot=on_snapshot,
                on_decision=on_decision,
                keep_timeline=False,
            )
        size = path.stat().st_size
        recording = read_recording(path)
        print(
            f"recording: {len(recording)} snapshots, {len(recording.decisions)} decisions, "
            f"{len(recording.workload)} workload intervals: {size / 1e6:.2f} MB "
            f"({size / len(recording) / 1e3:.2f} kB per interval, {size / args.hours / 1e6:.2f} MB per hour)"
        )
        source = recording_source(recording.workload, str(path), None)

    candidates = [make_candidate(BASELINE, {}, graph.planner)]
    candidates += [parse_candidate(text, graph.planner) for text in CANDIDATES[: args.candidates]]
    print(f"\n{'candidate':<12} {'CPU s':>7} {'x real time':>12} {'requests':>9} {'actions':>8}")
    for candidate in candidates:
        cpu = time.process_time()
        result = run_candidate(graph, workers, source, candidate, seed=7)
        spent = time.process_time() - cpu
        print(
            f"{candidate.name:<12} {spent:>7.1f} {source.duration_s / spent:>11.0f}x {result.arrived:>9} "
            f"{result.scale_actions:>8}"
        )
    print(f"\ntarget: under 60 s per candidate for one hour of traffic ({args.hours:g} h evaluated here)")


if __name__ == "__main__":
    main()
