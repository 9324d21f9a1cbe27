"""compare: deterministic for a seed, judges candidates on what they did, and refuses bad input clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from planner_tui.cli.compare_cmd import graph_workload, worker_specs
from planner_tui.cli.main import cli
from planner_tui.compare.candidates import BASELINE, CandidateError, load_candidates, make_candidate, parse_candidate
from planner_tui.compare.run import run_candidate
from planner_tui.compare.workload import WorkloadError, profile_source, recording_source, trace_source
from planner_tui.config import demo_graph_path, load_graph
from planner_tui.recording.workload import SizeHistogram, WorkloadInterval
from planner_tui.sim.profiles import ConstantProfile, Workload


@pytest.fixture(scope="module")
def demo():  # type: ignore[no-untyped-def]
    graph = load_graph(demo_graph_path())
    return graph, worker_specs(graph), graph_workload(graph)


def test_the_demo_graph_gives_its_workers_model_and_its_frontends_profile(demo) -> None:  # type: ignore[no-untyped-def]
    _graph, workers, (workload, seed) = demo
    assert [(w.name, w.role.value, w.params.prefetch, w.params.cold_start_s, w.seed_is_index) for w in workers] == [
        ("prefill", "prefill", 16, 3.0, True),
        ("decode", "decode", 4, 3.0, True),
    ]
    assert workload.profile.to_dict() == {"kind": "sine", "min_rps": 2.0, "max_rps": 18.0, "period_s": 180.0}
    assert seed == 7


def test_the_same_seed_gives_the_same_result_and_another_seed_another(demo) -> None:  # type: ignore[no-untyped-def]
    graph, workers, (workload, _) = demo
    source = profile_source(workload, 240.0)
    baseline = make_candidate(BASELINE, {}, graph.planner)
    first = run_candidate(graph, workers, source, baseline, seed=7)
    again = run_candidate(graph, workers, source, baseline, seed=7)
    other = run_candidate(graph, workers, source, baseline, seed=8)
    same = first.to_dict() | {"wall_s": 0}
    assert same == again.to_dict() | {"wall_s": 0}
    assert first.timeline is not None and again.timeline is not None
    assert first.timeline.marks == again.timeline.marks
    assert other.to_dict()["requests"] != first.to_dict()["requests"]
    # the demo's story: decode and prefill scale up for the peak and come back down
    assert first.peak_replicas["decode"] >= 3 and first.peak_replicas["prefill"] >= 2
    assert first.scale_actions >= 4 and first.dropped == 0
    assert first.arrived > 1000 and first.finished > 0.95 * first.arrived


def test_a_lower_kv_threshold_scales_decode_earlier_and_spends_more_gpu_time(demo) -> None:  # type: ignore[no-untyped-def]
    graph, workers, (workload, _) = demo
    source = profile_source(workload, 180.0)
    baseline = run_candidate(graph, workers, source, make_candidate(BASELINE, {}, graph.planner), seed=7)
    eager_settings = parse_candidate("eager: decode_kv_scale_up=0.5, decode_kv_scale_down=0.2", graph.planner)
    eager = run_candidate(graph, workers, source, eager_settings, seed=7)
    assert baseline.timeline is not None and eager.timeline is not None
    first_up = {
        name: min(m.timestamp for m in timeline.marks if m.component == "decode" and m.after > m.before)
        for name, timeline in (("baseline", baseline.timeline), ("eager", eager.timeline))
    }
    assert first_up["eager"] < first_up["baseline"]
    assert eager.gpu_seconds > baseline.gpu_seconds


def test_a_recorded_workload_replays_its_rate_and_sizes() -> None:
    histogram = SizeHistogram((128.0, 256.0, 512.0), (0.0, 10.0, 0.0, 0.0))  # every request 129..256 tokens
    intervals = [WorkloadInterval(1_700_000_000.0 + i, 1.0, 5, histogram, histogram) for i in range(60)]
    source = recording_source(intervals, "test", None)
    assert source.duration_s == 60.0
    arrivals = source.arrivals(3)
    events = []
    while True:
        _at, arrival = arrivals.next_event()
        if arrival is None:
            break
        events.append(arrival)
    assert len(events) == 300
    assert all(128 <= a.input_tokens <= 256 and 128 <= a.output_tokens <= 256 for a in events)
    assert [a.at for a in events] == sorted(a.at for a in events) and events[0].at >= 0 and events[-1].at < 60


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no-colon", "write NAME: key=value"),
        ("x: colour=blue", "unknown planner setting 'colour'; known settings: adjustment_interval_s"),
        ("x: decode_kv_scale_up=-1", "decode_kv_scale_up = -1"),
        ("x: policy=quantum", "policy = 'quantum'"),
        ("x: adjustment_interval_s", "is not key=value"),
    ],
)
def test_bad_candidates_name_the_key_and_the_fix(demo, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CandidateError, match=message):
        parse_candidate(text, demo[0].planner)


def test_a_candidates_file_without_tables_says_how_to_write_one(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "c.toml"
    path.write_text("decode_kv_scale_up = 0.8\n")
    with pytest.raises(CandidateError, match=r"\[candidates.NAME\]"):
        load_candidates(path, demo[0].planner)
    path.write_text("[candidates.eager]\ndecode_kv_scale_up = 0.8\n")
    assert [c.name for c in load_candidates(path, demo[0].planner)] == ["eager"]


def test_a_bad_trace_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    path.write_text("timestamp,input_tokens,output_tokens\n0,100,10\n1,abc,10\n")
    with pytest.raises(WorkloadError, match="line 3: not numbers"):
        trace_source(str(path), None)
    with pytest.raises(WorkloadError, match="duration must be > 0"):
        profile_source(Workload(ConstantProfile(1.0)), 0.0)


def test_the_command_prints_json_and_refuses_bad_input_with_exit_2(tmp_path: Path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("".join(f"{t * 0.25},{400},{60}\n" for t in range(240)))
    runner = CliRunner()
    slow = "slow: adjustment_interval_s=20"
    result = runner.invoke(cli, ["compare", "--trace", str(trace), "--candidate", slow, "--json", "--seed", "1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [c["name"] for c in data["candidates"]] == ["baseline", "slow"]
    assert data["candidates"][0]["requests"]["arrived"] == 240
    bad = runner.invoke(cli, ["compare", "--recording", str(trace)])
    assert bad.exit_code == 2 and "not a planner-tui recording" in bad.stderr
    bad = runner.invoke(cli, ["compare", "--profile", "{nope"])
    assert bad.exit_code == 2 and "--profile is not JSON" in bad.stderr


def test_the_charts_show_each_candidate_side_by_side_with_its_policies_figures(demo) -> None:  # type: ignore[no-untyped-def]
    """compare draws the dashboard's charts per candidate: replicas with the decisions, then the figure each
    autoscaled component's policy acts on with its thresholds (the same drawing as the chart screen)."""
    from planner_tui.compare.report import charts

    graph, workers, (workload, _) = demo
    source = profile_source(workload, 120.0)
    baseline = run_candidate(graph, workers, source, make_candidate(BASELINE, {}, graph.planner), seed=7)
    eager_settings = parse_candidate("eager: decode_kv_scale_up=0.6, decode_kv_scale_down=0.3", graph.planner)
    eager = run_candidate(graph, workers, source, eager_settings, seed=7)
    text = charts([baseline, eager], width=260, height=12)
    for result in (baseline, eager):
        assert result.timeline is not None
        assert f"{result.name}: replicas ({len(result.timeline.marks)} decisions)" in text
    assert "baseline decode: KV load per worker (up 0.9, down 0.5)" in text.replace("  ", " ")
    assert "eager decode: KV load per worker (up 0.6, down 0.3)" in text.replace("  ", " ")
    assert "baseline prefill: prefill queue per worker" in text
