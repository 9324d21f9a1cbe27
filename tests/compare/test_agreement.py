"""compare's virtual graph and the live demo agree: the same model (one implementation) gives the same story.

The live side is the embedded demo (real sim processes under circus, the real collector and planner) at
real speed (at 2x a busy 2-core machine let the live side fall behind twice), recorded by
``planner-tui record``; the virtual side is ``compare``'s run of the same graph,
profile and seed. Over the demo's first 80 seconds (the sine rising from 2 to ~12 req/s), per 20-second
window:

- arrivals agree within 10% (the same seeded arrival schedule);
- decode's KV in use (mean KV usage x ready replicas) agrees within 25% (0.25 of one replica's cache when
  lower) and its replica count within 1;
- decode's first scale-up comes within 15 s of the other side's.

The live graph differs from the virtual one by what the model leaves out: HTTP round trips, scheduling
delays and process start-up on a shared machine. Those are what the tolerances cover.
"""

from __future__ import annotations

import dataclasses
import signal
from pathlib import Path

from planner_tui.cli.compare_cmd import graph_workload, worker_specs
from planner_tui.compare.candidates import BASELINE, make_candidate
from planner_tui.compare.run import run_candidate
from planner_tui.compare.workload import profile_source
from planner_tui.config import demo_graph_path, load_graph
from planner_tui.model import Outcome, Signal, Snapshot
from planner_tui.recording import read_recording
from planner_tui.sim.worker import PULL_WAIT_S
from tests.connectors.local.conftest import state_root  # noqa: F401 - kills leftovers at teardown
from tests.recording.live import demo_copy, start_record

SPEEDUP = 1.0
SIM_SECONDS = 80.0
WINDOW_S = 20.0


def windows(snapshots: list[Snapshot], start: float, scale: float) -> dict[int, dict[str, float]]:
    """Per window of simulated time: decode's mean KV usage and mean replica count."""
    acc: dict[int, dict[str, list[float]]] = {}
    for snapshot in snapshots:
        window = int((snapshot.timestamp - start) * scale // WINDOW_S)
        slot = acc.setdefault(window, {"kv": [], "replicas": []})
        kv = snapshot.signal("decode", Signal.KV_USAGE)
        if kv is not None and kv.value is not None:
            # KV in use across the component (mean per replica x ready replicas): the decode load, whichever
            # interval a scale-up happened to land in
            slot["kv"].append(kv.value * snapshot.components["decode"].ready_replicas)
        slot["replicas"].append(snapshot.components["decode"].current_replicas)
    return {w: {k: sum(v) / len(v) for k, v in d.items() if v} for w, d in acc.items()}


def test_compare_and_the_live_demo_agree_on_the_demo_profile(tmp_path: Path, state_root: Path) -> None:  # noqa: F811
    output = tmp_path / "live.ptrec"
    graph_file = demo_copy(tmp_path, "agree")
    recorder = start_record(graph_file, output, "--speedup", f"{SPEEDUP:g}", "--duration", f"{SIM_SECONDS / SPEEDUP:g}")
    try:
        assert recorder.wait(SIM_SECONDS / SPEEDUP + 60) == 0, output.with_suffix(".log").read_text()
    finally:
        if recorder.poll() is None:
            recorder.send_signal(signal.SIGTERM)
            recorder.wait(30)
    live = read_recording(output)
    assert live.problems == []
    live_snapshots = [live.snapshot(i) for i in range(len(live))]

    graph = load_graph(demo_graph_path())
    workload, seed = graph_workload(graph)
    virtual_snapshots: list[Snapshot] = []
    # the live workers' pull loop waits PULL_WAIT_S real seconds for capacity: SPEEDUP times that, simulated
    workers = [dataclasses.replace(w, pull_wait_s=PULL_WAIT_S * SPEEDUP) for w in worker_specs(graph)]
    result = run_candidate(
        graph,
        workers,
        profile_source(workload, SIM_SECONDS),
        make_candidate(BASELINE, {}, graph.planner),
        seed=seed,
        on_snapshot=virtual_snapshots.append,
    )

    live_arrivals = sum(w.arrivals for w in live.workload)
    assert abs(live_arrivals - result.arrived) <= 0.1 * result.arrived, (live_arrivals, result.arrived)

    live_w = windows(live_snapshots, live.start, SPEEDUP)
    virtual_w = windows(virtual_snapshots, virtual_snapshots[0].timestamp - graph.metrics.interval_s, 1.0)
    for window in range(int(SIM_SECONDS // WINDOW_S)):
        a, b = live_w.get(window, {}), virtual_w.get(window, {})
        assert "kv" in a and "kv" in b, (window, live_w, virtual_w)
        assert abs(a["kv"] - b["kv"]) <= 0.25 * max(1.0, b["kv"]), (window, live_w, virtual_w)
        assert abs(a["replicas"] - b["replicas"]) <= 1.0, (window, live_w, virtual_w)

    def first_decode_up(times_and_decisions: list[tuple[float, int, int]]) -> float:
        return min(t for t, before, after in times_and_decisions if after > before)

    live_moves = [
        ((d.timestamp - live.start) * SPEEDUP, c.current, c.target)
        for d in live.decisions
        for c in d.components
        if c.component == "decode" and c.changes and c.outcome is Outcome.APPLIED
    ]
    assert result.timeline is not None and result.timeline.start is not None
    start = result.timeline.start
    virtual_moves = [(m.timestamp - start, m.before, m.after) for m in result.timeline.marks if m.component == "decode"]
    assert abs(first_decode_up(live_moves) - first_decode_up(virtual_moves)) <= 15.0, (live_moves, virtual_moves)
