"""Load predictors for the throughput policy: constant, moving average, linear trend and Kalman.

Each is a pure function of the recent observations (oldest first) that returns the value expected at
the next interval. The Kalman filter also carries its (estimate, variance) between ticks, which the
engine keeps in :class:`~planner_tui.planner.state.ComponentMemory`.
"""

from __future__ import annotations

from collections.abc import Sequence

from planner_tui.config.choices import Predictor


def linear_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """Least-squares ``(slope, intercept)`` of ``points`` (x, y); slope 0 with fewer than two distinct x."""
    n = len(points)
    if n == 0:
        return 0.0, 0.0
    xs = [p[0] for p in points]  # lists, not generators: sum() over a list is several times cheaper
    ys = [p[1] for p in points]
    mean_x = sum(xs) / n
    mean_y = sum(ys) / n
    sxx = sum([(x - mean_x) ** 2 for x in xs])
    if sxx <= 0:
        return 0.0, mean_y
    slope = sum([(x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)]) / sxx
    return slope, mean_y - slope * mean_x


def extrapolate(points: Sequence[tuple[float, float]], at: float) -> float:
    """The linear trend of ``points`` evaluated at ``at`` (the last value when there is no trend yet)."""
    if len(points) < 2:
        return points[-1][1] if points else 0.0
    slope, intercept = linear_fit(points)
    return slope * at + intercept


def kalman_step(state: tuple[float, float] | None, observation: float) -> tuple[float, float]:
    """One update of a local-level Kalman filter; returns the new (estimate, variance).

    Process and measurement noise scale with the signal's magnitude, so the same filter follows a
    request rate of 2 req/s and an ISL of 4000 tokens.
    """
    scale = max(abs(observation), 1.0)
    process_var = (0.05 * scale) ** 2
    measurement_var = (0.2 * scale) ** 2
    if state is None:
        return observation, measurement_var
    estimate, variance = state
    variance += process_var
    gain = variance / (variance + measurement_var)
    estimate += gain * (observation - estimate)
    return estimate, (1.0 - gain) * variance


def predict(
    predictor: Predictor, values: Sequence[float], window: int, kalman: tuple[float, float] | None = None
) -> float:
    """The next value of ``values`` (the newest last) by ``predictor`` over the last ``window`` points.

    ``kalman`` is the filter state *after* the newest value (from :func:`kalman_step`).
    """
    if not values:
        return 0.0
    recent = list(values[-window:])
    if predictor is Predictor.CONSTANT:
        return recent[-1]
    if predictor is Predictor.MOVING_AVERAGE:
        return sum(recent) / len(recent)
    if predictor is Predictor.LINEAR_TREND:
        points = [(float(i), v) for i, v in enumerate(recent)]
        return max(0.0, extrapolate(points, float(len(recent))))
    if predictor is Predictor.KALMAN:
        return kalman[0] if kalman is not None else recent[-1]
    raise ValueError(f"unknown predictor {predictor!r}")
