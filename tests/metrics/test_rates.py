"""Counter rates and histogram quantiles/means over windows, with Prometheus' semantics."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from planner_tui.metrics.rates import CounterWindow, HistogramPoint, HistogramWindow, histogram_quantile
from planner_tui.metrics.scrape import Sample


def hist(counts: dict[float, float], total: float) -> HistogramPoint:
    return HistogramPoint.from_buckets(counts.items(), total, max(counts.values()))


def test_quantile_interpolates_inside_the_bucket_like_prometheus() -> None:
    buckets = [(0.1, 4.0), (0.5, 8.0), (math.inf, 10.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.2)  # 0.1 + 0.4 * (5 - 4) / 4
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.0625)  # first bucket starts at 0
    assert histogram_quantile(0.95, buckets) == 0.5  # in +Inf: the highest finite bound


def test_quantile_without_observations_is_unknown() -> None:
    assert histogram_quantile(0.95, [(0.1, 0.0), (math.inf, 0.0)]) is None
    assert histogram_quantile(0.95, []) is None


@given(st.lists(st.floats(min_value=0.001, max_value=9.0), min_size=1, max_size=200), st.floats(0.01, 0.99))
def test_quantile_lies_within_the_bucket_that_holds_it(observations: list[float], q: float) -> None:
    bounds = [0.01, 0.1, 0.5, 1.0, 2.5, 10.0, math.inf]
    buckets = [(b, float(sum(1 for o in observations if o <= b))) for b in bounds]
    estimate = histogram_quantile(q, buckets)
    assert estimate is not None
    exact = sorted(observations)[max(0, math.ceil(q * len(observations)) - 1)]
    upper = next(b for b in bounds if exact <= b)
    lower = max([0.0, *(b for b in bounds if b < upper)])
    assert lower <= estimate <= upper


def test_histogram_from_samples_sums_series_and_reads_sum_and_count() -> None:
    samples = {
        "lat_bucket": [
            Sample("lat_bucket", {"le": "0.5", "model": "a"}, 1),
            Sample("lat_bucket", {"le": "0.5", "model": "b"}, 2),
            Sample("lat_bucket", {"le": "+Inf", "model": "a"}, 2),
            Sample("lat_bucket", {"le": "+Inf", "model": "b"}, 3),
        ],
        "lat_sum": [Sample("lat_sum", {"model": "a"}, 1.0), Sample("lat_sum", {"model": "b"}, 2.0)],
        "lat_count": [Sample("lat_count", {"model": "a"}, 2), Sample("lat_count", {"model": "b"}, 3)],
    }
    point = HistogramPoint.from_samples(samples, "lat")
    assert point == HistogramPoint.from_buckets(((0.5, 3.0), (math.inf, 5.0)), 3.0, 5.0)
    assert HistogramPoint.from_samples(samples, "other") is None


def test_counter_rate_over_the_window_survives_a_reset() -> None:
    window = CounterWindow(window_s=10)
    assert window.rate() is None
    window.add(0, 100)
    window.add(1, 110)
    assert window.rate() == pytest.approx(10.0)
    window.add(2, 5)  # the process restarted: 5 more since the reset
    assert window.rate() == pytest.approx((10 + 5) / 2)
    for t in range(3, 30):
        window.add(t, 5 + 2 * (t - 2))
    assert window.rate() == pytest.approx(2.0)  # only the last 10 s count
    assert len(window.points) <= 12


def test_histogram_window_gives_the_increase_and_restarts_on_reset() -> None:
    window = HistogramWindow(window_s=60)
    window.add(0, hist({0.1: 10, math.inf: 10}, 0.5))
    assert window.increase() is None
    window.add(1, hist({0.1: 12, math.inf: 20}, 3.5))
    increase = window.increase()
    assert increase is not None and increase.count == 10 and increase.buckets == ((0.1, 2.0), (math.inf, 10.0))
    assert increase.mean() == pytest.approx(0.3)
    window.add(2, hist({0.1: 1, math.inf: 1}, 0.05))  # reset
    assert window.increase() is None
    window.add(3, hist({0.1: 3, math.inf: 3}, 0.15))
    increase = window.increase()
    assert increase is not None and increase.count == 2 and increase.quantile(0.5) == pytest.approx(0.05)


POINTS = st.lists(
    st.builds(
        lambda counts, total: HistogramPoint.from_buckets(counts.items(), total, max(counts.values(), default=0.0)),
        st.dictionaries(st.sampled_from([0.1, 0.5, 1.0, 2.5, math.inf]), st.floats(0, 1e6), max_size=5),
        st.floats(0, 1e6),
    ),
    min_size=1,
    max_size=6,
)


@given(POINTS)
def test_merging_many_replicas_at_once_equals_merging_them_pairwise(points: list[HistogramPoint]) -> None:
    pairwise = points[0]
    for point in points[1:]:
        pairwise = pairwise.plus(point)
    assert HistogramPoint.merge(points) == pairwise


def reference_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """Prometheus' definition, bucket by bucket: the first bucket whose count reaches the rank."""
    if not buckets or not 0 <= q <= 1 or buckets[-1][1] <= 0 or not math.isinf(buckets[-1][0]):
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound if len(buckets) > 1 else None
            if bound <= 0 or count == lower_count:
                return bound
            return min(bound, lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count))
        lower_bound, lower_count = bound, count
    return None


@given(
    st.lists(st.floats(0, 1e6), min_size=1, max_size=8),
    st.booleans(),
    st.floats(0, 1),
)
def test_quantile_agrees_with_the_definition_for_any_counts(counts: list[float], cumulative: bool, q: float) -> None:
    """Cumulative counts (what exporters serve) and disordered ones (a reset inside a window) alike."""
    if cumulative:
        counts = list(itertools.accumulate(counts))
    bounds = [0.1 * (i + 1) for i in range(len(counts) - 1)] + [math.inf]
    buckets = list(zip(bounds, counts, strict=True))
    assert histogram_quantile(q, buckets) == reference_quantile(q, buckets)
