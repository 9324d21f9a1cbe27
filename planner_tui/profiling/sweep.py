"""The sweep: for each measured component and length, load levels from light to past the target.

Per (component, length) the load grows geometrically from a first level (one client, or a light probe
rate) until a point misses the latency target, overloads the replica, or stops adding throughput;
then it is refined by bisection between the last point that met the target and the first that did not.
Each point runs until it is steady (:func:`.window.steadiness`) or its window budget is spent.

:meth:`Sweep.stop` (Ctrl-C) ends the point in progress at once; what was measured is kept and the
result is marked partial. Progress (points done, an estimate of the total and of the time left) is
reported after every point through a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from planner_tui.profiling.capacity import fill_capacity
from planner_tui.profiling.driver import LoadDriver
from planner_tui.profiling.records import LoadKind, Phase, Point, SweepResult
from planner_tui.profiling.window import Sample, Window, measure, steadiness

log = logging.getLogger(__name__)

#: the lengths swept by default: prefill input lengths, decode context lengths (ISL + OSL/2)
PREFILL_ISL = {True: (256, 1024), False: (128, 512, 1024, 2048, 4096)}
DECODE_CONTEXT = {True: (256, 1024), False: (256, 512, 1024, 2048, 4096)}
#: output tokens of the prefill sweep's requests: enough for a first token, little decode work
PREFILL_OSL = 8


class SweepStopped(Exception):
    """The sweep was asked to stop (Ctrl-C) in the middle of a point."""


@dataclass(frozen=True, slots=True)
class Task:
    """One (component, phase, length) to sweep, with the request shape that gives that length."""

    component: str
    phase: Phase
    length: float
    isl: int
    osl: int

    def describe(self) -> str:
        """``decode context_length 1024 (isl 896, osl 256)``."""
        return f"{self.component} {self.phase.axis} {self.length:g} (isl {self.isl}, osl {self.osl})"


def decode_shape(context: float, osl: int | None = None) -> tuple[int, int]:
    """The (ISL, OSL) of a decode request of context length ``context`` = ISL + OSL/2.

    OSL defaults to a quarter of the context (at least 32): long enough that decode, not prefill,
    bounds the rate, short enough that a point needs few request lifetimes.
    """
    out = osl if osl is not None else max(32, round(context / 4))
    isl = max(1, round(context - out / 2))
    return isl, out


def plan_tasks(
    components: dict[str, Phase],
    quick: bool,
    isl: Sequence[float] | None = None,
    context: Sequence[float] | None = None,
    decode_osl: int | None = None,
) -> list[Task]:
    """Every (component, length) to sweep, prefill components first."""
    tasks: list[Task] = []
    for name, phase in sorted(components.items(), key=lambda item: (item[1] is not Phase.PREFILL, item[0])):
        if phase is Phase.PREFILL:
            for length in sorted(isl or PREFILL_ISL[quick]):
                tasks.append(Task(name, phase, float(length), round(length), PREFILL_OSL))
        else:
            for length in sorted(context or DECODE_CONTEXT[quick]):
                i, o = decode_shape(length, decode_osl)
                tasks.append(Task(name, phase, float(i + o / 2), i, o))
    return tasks


@dataclass(frozen=True, slots=True)
class SweepSettings:
    """How hard to look: window lengths (driver clock), steadiness, points per length, load bounds."""

    window_s: float = 5.0
    max_windows: int = 10
    steady_tolerance: float = 0.15
    min_per_window: int = 20  # a window lasts long enough to hold about this many completions
    min_done: int = 40  # a point's measurement holds at least this many completions when it can
    growth: float = 2.0
    refinements: int = 2
    max_points: int = 9  # per length
    first_level: float = 1.0
    max_load: float = 256.0
    drain_timeout_s: float = 60.0  # real seconds

    @classmethod
    def default(cls, kind: LoadKind, quick: bool) -> SweepSettings:
        """Coarse and short with ``quick``; the first level is one client or a 1 req/s probe."""
        if quick:
            return cls(window_s=4.0, max_windows=8, min_done=30, growth=2.5, refinements=1, max_points=7)
        return cls()


@dataclass(frozen=True, slots=True)
class Progress:
    """Where the sweep is: points measured, an estimate of how many in all, and of the real time left."""

    done: int
    total: int
    eta_s: float | None
    current: str
    point: Point | None = None


@dataclass
class _Timing:
    point_s: list[float] = field(default_factory=list)
    points_per_task: list[int] = field(default_factory=list)


class Sweep:
    """Runs :func:`plan_tasks`' tasks through a load driver into a :class:`SweepResult`."""

    def __init__(
        self,
        driver: LoadDriver,
        tasks: Sequence[Task],
        result: SweepResult,
        settings: SweepSettings,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> None:
        self.driver = driver
        self.tasks = list(tasks)
        self.result = result
        self.settings = settings
        self.on_progress = on_progress
        self._stop = asyncio.Event()
        self._timing = _Timing()
        self._task_index = 0
        self._points_in_task = 0

    def stop(self, reason: str = "stopped (Ctrl-C)") -> None:
        """End the sweep at once; :meth:`run` returns a partial result."""
        if not self._stop.is_set():
            self.result.partial_reason = reason
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called."""
        return self._stop.is_set()

    # -- progress ----------------------------------------------------------------------------------
    def _estimate(self) -> tuple[int, float | None]:
        timing = self._timing
        done = len(self.result.points)
        per_task = (
            sum(timing.points_per_task) / len(timing.points_per_task)
            if timing.points_per_task
            else float(max(3, self.settings.max_points - 2))
        )
        left_in_task = max(0.0, per_task - self._points_in_task)
        tasks_after = len(self.tasks) - self._task_index - 1
        remaining = left_in_task + max(0, tasks_after) * per_task
        total = done + math.ceil(remaining)
        eta = None
        if timing.point_s:
            eta = remaining * (sum(timing.point_s) / len(timing.point_s))
        return total, eta

    def _report(self, current: str, point: Point | None = None) -> None:
        if self.on_progress is None:
            return
        total, eta = self._estimate()
        self.on_progress(Progress(len(self.result.points), total, eta, current, point))

    # -- running -----------------------------------------------------------------------------------
    async def run(self) -> SweepResult:
        """Sweep every task; on :meth:`stop` keep what was measured and mark the result partial."""
        try:
            await self.driver.start()
            for index, task in enumerate(self.tasks):
                self._task_index, self._points_in_task = index, 0
                await self._sweep_task(task)
                self._timing.points_per_task.append(self._points_in_task)
                if index + 1 < len(self.tasks):
                    await self._drain()
        except SweepStopped:
            self.result.partial = True
        finally:
            self.result.finished_at = time.time()
            fill_capacity(self.result)
        return self.result

    async def _wait(self, real_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(0.0, real_s))
        if self._stop.is_set():
            raise SweepStopped

    async def _drain(self) -> None:
        if self._stop.is_set():
            raise SweepStopped
        drained = asyncio.ensure_future(self.driver.idle(self.settings.drain_timeout_s))
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({drained, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not drained.done():
            drained.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await drained
            raise SweepStopped
        if not drained.result():
            self.result.warnings.append(
                f"requests were still in flight {self.settings.drain_timeout_s:.0f} s after the load stopped"
            )

    def _next_up(self, level: float, point: Point, first: bool) -> float:
        s = self.settings
        if self.driver.kind is LoadKind.CONCURRENCY:
            return float(min(s.max_load, max(level + 1, math.floor(level * s.growth))))
        up = level * s.growth
        if first:
            # from a light probe, jump to about one request in flight (Little's law)
            service = _service_time(point)
            if service:
                up = max(up, 1.0 / service)
        return min(s.max_load, up)

    def _midpoint(self, low: float, high: float) -> float | None:
        if self.driver.kind is LoadKind.CONCURRENCY:
            mid = float(round((low + high) / 2))
            return mid if low < mid < high else None
        return math.sqrt(low * high) if high > low * 1.05 else None

    async def _sweep_task(self, task: Task) -> None:
        s = self.settings
        target = self.result.targets.seconds(task.phase)
        low: Point | None = None
        high: Point | None = None
        level = s.first_level
        first = True
        downs = 0
        while self._points_in_task < s.max_points:
            point = await self._point(task, level)
            if point.meets(target):
                saturated = (
                    low is not None
                    and self.driver.kind is LoadKind.CONCURRENCY
                    and point.tokens_per_s < low.tokens_per_s * 1.05
                )
                if low is None or point.tokens_per_s >= low.tokens_per_s:
                    low = point
                if saturated or level >= s.max_load:
                    break
                level = self._next_up(level, point, first)
                first = False
                continue
            high = point
            if point.overloaded:
                await self._drain()
            if low is None and downs < 2 and level > (1 if self.driver.kind is LoadKind.CONCURRENCY else 0.05):
                downs += 1  # even the first level misses: look below it
                level = (
                    max(1.0, math.floor(level / s.growth)) if self.driver.kind is LoadKind.CONCURRENCY else level / 4
                )
                if high.load == level:
                    break
                continue
            break
        for _ in range(s.refinements):
            if low is None or high is None or self._points_in_task >= s.max_points:
                break
            mid = self._midpoint(low.load, high.load)
            if mid is None:
                break
            point = await self._point(task, mid)
            if point.meets(target):
                low = point
            else:
                high = point
                if point.overloaded:
                    await self._drain()

    async def _point(self, task: Task, level: float) -> Point:
        """One load level until steady (or out of windows): the merged measurement of its steady tail."""
        s = self.settings
        started = time.monotonic()
        described = f"{task.describe()} @ {self.driver.kind.describe(level)}"
        self._report(described)
        driver = self.driver
        previous = self.result.points_of(task.component, task.length)
        expected_rate = level if driver.kind is LoadKind.REQUEST_RATE else _expected_rate(previous, level)
        window = s.window_s
        if expected_rate:
            window = max(window, min(s.min_per_window / expected_rate, 4 * s.window_s))
        warmup = window
        # a request's life at this load, from the last point of this length, else of this component's
        # other lengths (the first point of a length): the in-flight count ramps up for that long, which
        # must not read as an overload
        reference = previous or self.result.points_of(task.component)
        if reference:
            lifetime = _service_time(reference[-1], task.osl)
            if lifetime:
                warmup = max(window, min(1.5 * lifetime, 6 * s.window_s))
        await driver.apply(level, task.isl, task.osl)
        await self._wait(driver.real_seconds(warmup))
        samples: list[Sample] = [await driver.sample()]
        windows: list[Window] = []
        workers = [task.component]
        chosen: tuple[Window, bool, bool] | None = None
        while len(windows) < s.max_windows:
            await self._wait(driver.real_seconds(window))
            samples.append(await driver.sample())
            windows.append(measure(samples[-2], samples[-1], task.phase, driver.records, workers))
            if len(windows) < 3:
                continue
            tail = windows[-3:]
            tolerance = s.steady_tolerance + 2.0 / math.sqrt(max(1.0, _mean_done(tail)))
            judged = steadiness(tail, tolerance)
            if judged.overloaded and judged.spread <= tolerance:
                # the backlog grows while the served throughput holds still: the replica is saturated
                chosen = (measure(samples[-4], samples[-1], task.phase, driver.records, workers), False, True)
                break
            if not judged.steady:
                continue  # still ramping up (or overloaded and still filling up): another window
            # the longest steady tail, merged, once it holds enough completions
            count = 3
            while count < len(windows) and steadiness(windows[-(count + 1) :], tolerance).steady:
                count += 1
            merged = measure(samples[-(count + 1)], samples[-1], task.phase, driver.records, workers)
            if merged.done_rps * merged.duration_s >= s.min_done or len(windows) >= s.max_windows:
                chosen = (merged, True, False)
                break
        note = ""
        if chosen is None:
            tail_start = max(0, len(samples) - 4)
            merged = measure(samples[tail_start], samples[-1], task.phase, driver.records, workers)
            chosen = (merged, False, False)
            note = f"not steady after {len(windows)} windows"
        merged, steady, overloaded = chosen
        if steady and merged.done_rps * merged.duration_s < s.min_done:
            note = f"only {merged.done_rps * merged.duration_s:.0f} completions measured"
        point = Point(
            component=task.component,
            phase=task.phase,
            length=task.length,
            isl=task.isl,
            osl=task.osl,
            load=level,
            load_kind=driver.kind,
            duration_s=merged.duration_s,
            steady=steady,
            overloaded=overloaded,
            arrival_rps=merged.arrival_rps,
            completed_rps=merged.done_rps,
            tokens_per_s=merged.tokens_per_s,
            latency=merged.latency,
            latency_source=merged.latency_source,
            concurrency=merged.concurrency,
            ttft=merged.ttft,
            itl=merged.itl,
            checks=merged.checks,
            failed=round(merged.failed),
            note=note,
        )
        self.result.points.append(point)
        self._points_in_task += 1
        self._timing.point_s.append(time.monotonic() - started)
        self._report(described, point)
        return point


def _mean_done(windows: Sequence[Window]) -> float:
    return sum(w.done_rps * w.duration_s for w in windows) / len(windows)


def _expected_rate(previous: Sequence[Point], level: float) -> float | None:
    """Completions/s expected at ``level`` clients, scaled from the last point (None before any)."""
    if not previous or previous[-1].load <= 0:
        return None
    last = previous[-1]
    return last.completed_rps * level / last.load


def _service_time(point: Point, osl: int | None = None) -> float | None:
    """Seconds a request spends in the phase: its TTFT (prefill), or its whole life (decode)."""
    source = point.latency_source
    ttft = point.ttft.get(source) or point.ttft.get("frontend")
    if point.phase is Phase.PREFILL:
        return ttft.mean if ttft and ttft.mean else None
    itl = point.itl.get(source) or point.itl.get("frontend")
    if itl is None or itl.mean is None:
        return None
    return (ttft.mean if ttft and ttft.mean else 0.0) + itl.mean * max(1, (osl or point.osl) - 1)
