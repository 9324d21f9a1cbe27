"""Bounded history: constant memory whatever the run length, windows, downsampling."""

from __future__ import annotations

import pytest

from planner_tui.metrics.history import History, Ring, downsample
from planner_tui.model import GpuOrigin, GpuSample, HostSample, Signal, SignalValue, Snapshot


def test_ring_keeps_the_newest_points_only() -> None:
    ring = Ring(3)
    for t in range(10):
        ring.append(float(t), float(t * 10))
    assert len(ring) == 3
    assert ring.since(0) == [(7.0, 70.0), (8.0, 80.0), (9.0, 90.0)]
    assert ring.since(8.5) == [(9.0, 90.0)]


def test_history_is_bounded_whatever_the_run_length() -> None:
    history = History(history_s=60, interval_s=1)
    for t in range(5000):
        snapshot = Snapshot(
            timestamp=float(t),
            namespace="ns",
            signals=(SignalValue("decode", Signal.KV_USAGE, t / 5000, float(t)),),
            gpus=(GpuSample(0, GpuOrigin.NVML, float(t), utilization_pct=float(t % 100)),),
            host=HostSample(cpu_percent=12.5),
        )
        history.record(snapshot)
    points = history.series("decode", Signal.KV_USAGE, window_s=3600)
    assert len(points) == 60 and points[-1] == (4999.0, 4999 / 5000)
    assert history.series("decode", "kv_usage", window_s=9.5)[0][0] == 4990.0
    assert [v for _, v in history.gpu_history(0, window_s=2)] == [97.0, 98.0, 99.0]
    assert history.host_history("cpu_percent", 1)[-1] == (4999.0, 12.5)


def test_stale_values_are_gaps_not_repeats() -> None:
    history = History(history_s=60, interval_s=1)
    history.record(Snapshot(1.0, "ns", signals=(SignalValue("fe", Signal.INFLIGHT, 3.0, 1.0),)))
    history.record(Snapshot(2.0, "ns", signals=(SignalValue("fe", Signal.INFLIGHT, 3.0, 1.0, stale=True),)))
    assert history.series("fe", Signal.INFLIGHT, 60) == [(1.0, 3.0)]


def test_series_of_replicas_that_went_away_are_dropped() -> None:
    history = History(history_s=10, interval_s=1)
    history.append(("signal", "decode", Signal.WAITING, "decode-7"), 0.0, 1.0)
    for t in range(1, 200):
        history.record(Snapshot(float(t), "ns", signals=(SignalValue("decode", Signal.WAITING, 1.0, float(t)),)))
    assert history.series("decode", Signal.WAITING, 100, replica="decode-7") == []
    assert ("signal", "decode", Signal.WAITING, "decode-7") not in set(history.keys())


def test_downsample_to_a_chart_width() -> None:
    points = [(float(t), float(t % 10)) for t in range(100)]
    assert downsample(points, 200) == points
    reduced = downsample(points, 10)
    assert len(reduced) == 10 and all(v == 4.5 for _, v in reduced)
    assert [t for t, _ in reduced] == [9.0 + 10 * i for i in range(10)]
    assert {v for _, v in downsample(points, 10, mode="max")} == {9.0}
    assert History.downsample(points, 5, mode="last") == downsample(points, 5, mode="last")
    with pytest.raises(ValueError, match="n >= 1"):
        downsample(points, 0)


def test_unknown_gpu_field_is_refused() -> None:
    with pytest.raises(ValueError, match="utilization_pct"):
        History().gpu_history(0, 60, field="bogus")


def test_points_older_than_the_series_are_ignored() -> None:
    history = History(history_s=60, interval_s=1)
    key = ("signal", "fe", Signal.INFLIGHT, None)
    history.append(key, 10.0, 1.0)
    history.append(key, 5.0, 9.0)  # out of order: dropped, the ring stays sorted
    history.append(key, 11.0, 2.0)
    assert history.points(key, 60) == [(10.0, 1.0), (11.0, 2.0)]
