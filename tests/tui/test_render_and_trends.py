"""The text the panels are built from: bars, sparklines, downsampled history, scale checks."""

from __future__ import annotations

from planner_tui.model import Signal
from planner_tui.tui import render
from planner_tui.tui.capacity import GpuHeadroom, check_scale, gpu_headroom
from planner_tui.tui.sample_data import sample_graph, sample_logs, sample_snapshot
from planner_tui.tui.screens.log_screen import with_context
from planner_tui.tui.static_source import SnapshotHistory
from planner_tui.tui.trends import Trends


def test_bar_fills_with_eighths_and_marks_unknown_as_empty() -> None:
    assert render.bar(0.5, 4) == "██░░"
    assert render.bar(1.0, 3) == "███"
    assert render.bar(0.25, 2) == "▌░"
    assert render.bar(0.0625, 2) == "▏░"
    assert render.bar(None, 3) == "░░░"
    assert render.bar(7.0, 2) == "██"


def test_sparkline_scales_and_leaves_gaps_for_missing_data() -> None:
    assert render.sparkline([0, 50, 100], 0, 100) == "▁▅█"
    assert render.sparkline([None, 1.0, None]) == " ▁ "
    assert render.sparkline([]) == ""


def test_figures_are_human_sized() -> None:
    assert render.duration(45) == "45s" and render.duration(723) == "12m" and render.duration(None) == "-"
    assert render.duration(3 * 3600 + 7 * 60 + 59) == "3h07m" and render.duration(2 * 86400 + 4 * 3600) == "2d04h"


def test_durations_past_a_minute_change_once_a_minute_not_every_second() -> None:
    """An uptime or an age on an idle dashboard: seconds in the first minute, then whole minutes."""
    assert [render.duration(s) for s in (58, 59)] == ["58s", "59s"]
    assert {render.duration(s) for s in range(60, 120)} == {"1m"}
    assert {render.duration(s) for s in range(720, 780)} == {"12m"}
    assert render.duration(780) == "13m"
    assert render.size_bytes(50 * 1024 * 1024) == "50.0M"
    assert render.milliseconds(0.32) == "320ms" and render.milliseconds(1.25) == "1.25s"
    assert render.mib(20480) == "20.0G"


def test_trends_downsample_to_the_width_and_forget_old_points() -> None:
    trends = Trends(keep_s=100)
    for t in range(0, 300):
        trends.add("x", float(t), float(t % 10))
    points = trends.points("x")
    assert points[0][0] >= 199 and points[-1][0] == 299
    buckets = trends.buckets("x", now=300, window_s=60, width=6)
    assert len(buckets) == 6 and all(b == 9.0 for b in buckets)
    assert trends.buckets("x", now=1000, window_s=60, width=3) == [None, None, None]
    trends.add("x", 10.0, 5.0)  # out of order: ignored
    assert trends.latest("x") == 9.0


def test_trends_ingest_sums_queues_and_takes_the_worst_kv() -> None:
    trends = Trends()
    snapshot = sample_snapshot()
    trends.ingest(snapshot)
    kv = snapshot.signal("decode", Signal.KV_USAGE)
    queue = snapshot.signal("prefill", Signal.QUEUE_DEPTH)
    assert kv is not None and trends.latest("decode_kv") == kv.value
    assert queue is not None and trends.latest("prefill_queue") == queue.value
    assert trends.latest("gpu0.util") == snapshot.gpus[0].utilization_pct


def test_scale_check_names_the_bound_or_the_missing_gpus() -> None:
    graph = sample_graph(gpus=6)
    snapshot = sample_snapshot(graph=graph)
    state = snapshot.components["decode"]
    headroom = gpu_headroom(graph, snapshot)
    assert (headroom.inventory, headroom.assigned, headroom.free) == (6, 5, 1)
    assert check_scale("4", state, headroom) == (4, None)
    assert check_scale("2", state, headroom) == (2, None)
    assert check_scale("5", state, headroom)[1] == "2 more replicas need 2 GPUs; 1 free, 1 left in the GPU budget"
    assert check_scale("0", state, headroom)[1] == "decode allows 1..5 replicas, got 0"
    assert check_scale("x", state, headroom)[1] == "enter a whole number between 1 and 5"
    assert GpuHeadroom(None, 0, None).extra_replicas(1) is None


def test_log_search_keeps_two_lines_of_context_and_separates_groups() -> None:
    lines = sample_logs("decode", replicas=3, lines=40)
    shown = with_context(lines, "warning")
    matches = [line for line in shown if line is not None and "WARNING" in line.text]
    assert len(matches) == 3
    assert shown.count(None) == 2
    assert len(shown) == 3 * 5 + 2


def test_backfill_from_a_collector_history_fills_empty_series_only() -> None:
    from planner_tui.metrics.history import History

    history = History(history_s=900, interval_s=5)
    snapshots = [sample_snapshot(1_767_225_000.0 + 5 * k) for k in range(20)]
    for snapshot in snapshots:
        history.record(snapshot)
    trends = Trends()
    trends.add("itl_p95", 1_767_225_500.0, 9.0)  # already has data: left alone
    roles = {name: state.spec.role for name, state in snapshots[-1].components.items()}
    added = trends.backfill(history, roles, [0, 1])
    assert added > 0
    kv = snapshots[-1].signal("decode", Signal.KV_USAGE)
    assert kv is not None and trends.latest("decode_kv") == kv.value
    assert len(trends.points("gpu1.util")) == len(history.gpu_history(1, 900))
    assert trends.points("itl_p95") == [(1_767_225_500.0, 9.0)]


def test_backfill_from_fixed_snapshots_draws_what_live_snapshots_would() -> None:
    snapshots = [sample_snapshot(1_767_225_000.0 + 5 * k) for k in range(20)]
    live = Trends()
    for snapshot in snapshots:
        live.ingest(snapshot)
    roles = {name: state.spec.role for name, state in snapshots[-1].components.items()}
    backfilled = Trends()
    assert backfilled.backfill(SnapshotHistory(snapshots), roles, [g.index for g in snapshots[-1].gpus]) > 0
    for key in ("prefill_queue", "decode_queue", "decode_kv", "frontend_inflight", "ttft_p95", "gpu0.util"):
        assert backfilled.points(key) == live.points(key), key


def test_chart_frames_less_than_half_a_second_of_data_apart_are_skipped() -> None:
    assert render.too_soon((10.0, 80), (10.2, 80))
    assert not render.too_soon((10.0, 80), (10.5, 80))
    assert not render.too_soon((10.0, 80), (10.2, 100))  # resized: redraw now
    assert not render.too_soon((10.0, 80), (10.0, 80))  # same frame again (content may have changed)
    assert not render.too_soon(None, (10.0, 80))
