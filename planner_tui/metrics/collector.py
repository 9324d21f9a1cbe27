"""The Collector: one immutable Snapshot per interval from the connector and every metrics source.

Each tick asks the connector for the component states, then runs every source concurrently, each
within its own deadline inside the tick. A source (or the connector) that does not answer in time
keeps running in the background, is never started twice, and its last report is used with its
signal values marked stale (or, from a source that can say which replicas it reports on, its
``late_report``: nothing it reported on is ever absent); so one slow source never stalls the others
or the tick. A source with a ``fit_interval(interval_s)`` method is told the interval, to bound its
own work by it. A tick that
overruns the interval is counted in ``late_ticks`` and the schedule skips ahead instead of bursting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from planner_tui.config.graph import GraphConfig
from planner_tui.config.planner_settings import MetricsSettings
from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.capabilities import has_local_gpus
from planner_tui.metrics.history import History
from planner_tui.metrics.sources import Source, SourceReport, TickContext
from planner_tui.model.components import ComponentState
from planner_tui.model.fanout import Fanout
from planner_tui.model.gpus import GpuOrigin, GpuSample
from planner_tui.model.replicas import ReplicaUsage
from planner_tui.model.signals import SignalValue
from planner_tui.model.snapshot import HostSample, Snapshot

log = logging.getLogger(__name__)

MIN_INTERVAL_S = 0.25
BACKFILL_TIMEOUT_S = 5.0
_TICK_BUDGET = 0.9  # share of the interval a tick may take before its snapshot is due
_CONNECTOR_BUDGET = 0.4  # share of the interval the connector gets before its last states are used


def default_sources(connector: PlannerConnector, graph: GraphConfig | None) -> list[Source]:
    """Host, serving signals (scraped, or queried from Prometheus when configured) and local GPUs."""
    from planner_tui.metrics.endpoints import EndpointSignalSource
    from planner_tui.metrics.host import HostSource

    settings = graph.metrics if graph is not None else MetricsSettings()
    sources: list[Source] = [HostSource()]
    if settings.prometheus_url:
        from planner_tui.metrics.prometheus import PrometheusQuerySource

        sources.append(PrometheusQuerySource(settings, graph, namespace=connector.namespace))
    sources.append(EndpointSignalSource(settings, graph))
    simulated = graph is not None and graph.resources.simulated_gpus
    no_gpus = graph is not None and graph.resources.gpus == []  # declared none: NVML is not asked
    if not simulated and not no_gpus and has_local_gpus(connector):
        from planner_tui.metrics.gpu import NvmlGpuSource  # pynvml and ctypes: only when NVML is asked

        sources.append(NvmlGpuSource())
    return sources


def _stale(values: Iterable[SignalValue]) -> tuple[SignalValue, ...]:
    return tuple(v if v.stale else dataclasses.replace(v, stale=True) for v in values)


class _Bounded:
    """At most one in-flight call per key; waiting for it is bounded, the call is not cancelled."""

    def __init__(self) -> None:
        self.tasks: dict[object, asyncio.Task[Any]] = {}

    async def run(self, key: object, start: Callable[[], Awaitable[Any]], timeout: float) -> tuple[bool, Any]:
        """``(True, result)`` when the call finished in time, ``(False, None)`` when still running.

        An exception from the call is returned as the result (``(True, exc)``).
        """
        task = self.tasks.get(key)
        if task is None:
            task = self.tasks[key] = asyncio.ensure_future(start())
        done, _ = await asyncio.wait({task}, timeout=max(0.0, timeout))
        if not done:
            return False, None
        del self.tasks[key]
        if task.cancelled():
            return True, asyncio.CancelledError()
        exc = task.exception()
        return True, exc if exc is not None else task.result()

    async def cancel_all(self, timeout: float) -> None:
        """Cancel what is still running and wait (bounded) for it to finish."""
        tasks = list(self.tasks.values())
        self.tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)


class Collector:
    """Produces one :class:`Snapshot` per interval (default 1 s, at least 0.25 s) until stopped.

    ``subscribe()`` gives a queue receiving every Snapshot (the oldest is dropped when a slow
    subscriber lets it fill); ``snapshots()`` iterates over them; ``latest`` is the newest;
    ``history`` holds every series over the last ``metrics.history_s`` seconds.
    """

    def __init__(
        self,
        connector: PlannerConnector,
        graph: GraphConfig | None = None,
        *,
        interval_s: float | None = None,
        sources: Sequence[Source] | None = None,
    ) -> None:
        self.connector = connector
        self.graph = graph
        self.settings = graph.metrics if graph is not None else MetricsSettings()
        interval = self.settings.interval_s if interval_s is None else interval_s
        if interval < MIN_INTERVAL_S:
            raise ValueError(f"the collector interval must be at least {MIN_INTERVAL_S} s, got {interval}")
        self.interval_s = float(interval)
        self.namespace = graph.namespace if graph is not None else connector.namespace
        self.sources = list(sources) if sources is not None else default_sources(connector, graph)
        for source in self.sources:
            fit = getattr(source, "fit_interval", None)
            if callable(fit):
                fit(self.interval_s)
        self.history = History(self.settings.history_s, self.interval_s)
        self.late_ticks = 0
        self.ticks = 0
        self._latest: Snapshot | None = None
        self._fanout: Fanout[Snapshot] = Fanout(maxsize=16)
        self._task: asyncio.Task[None] | None = None
        self._bounded = _Bounded()
        self._states: Mapping[str, ComponentState] = {}
        self._reports: dict[int, SourceReport] = {}
        self._tick_lock = asyncio.Lock()

    # -- public API --------------------------------------------------------------------------------
    @property
    def latest(self) -> Snapshot | None:
        """The newest Snapshot, None before the first tick."""
        return self._latest

    @property
    def running(self) -> bool:
        """True while the collecting task runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start collecting in the background (on the running event loop)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="planner-tui-collector")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop collecting and release the sources, within about ``timeout`` seconds."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=timeout / 2)
        await self._bounded.cancel_all(timeout / 4)
        closes = [asyncio.ensure_future(source.close()) for source in self.sources]
        if closes:
            done, pending = await asyncio.wait(closes, timeout=timeout / 4)
            for future in pending:
                future.cancel()
            for future in done:
                if not future.cancelled() and future.exception() is not None:
                    log.warning("closing a metrics source failed: %s", future.exception())

    def subscribe(self, maxsize: int = 16) -> asyncio.Queue[Snapshot]:
        """A queue that receives every new Snapshot (oldest dropped when full)."""
        return self._fanout.subscribe(maxsize)

    def unsubscribe(self, queue: asyncio.Queue[Snapshot]) -> None:
        """Stop delivering Snapshots to ``queue``."""
        self._fanout.unsubscribe(queue)

    async def snapshots(self) -> AsyncIterator[Snapshot]:
        """Every new Snapshot as it is produced (until the consumer stops iterating)."""
        queue = self.subscribe()
        try:
            while True:
                yield await queue.get()
        finally:
            self.unsubscribe(queue)

    async def collect_once(self) -> Snapshot:
        """Collect one Snapshot now (also what each background tick does)."""
        async with self._tick_lock:
            snapshot = await self._tick()
        self._latest = snapshot
        self.history.record(snapshot)
        self.ticks += 1
        self._fanout.publish(snapshot)
        return snapshot

    # -- the loop ----------------------------------------------------------------------------------
    async def backfill(self, timeout: float = BACKFILL_TIMEOUT_S) -> int:
        """Let the sources that know the past (a Prometheus server) fill the history; bounded."""
        try:
            async with asyncio.timeout(timeout):
                states = await self.connector.get_component_states()
                context = TickContext(now=time.time(), namespace=self.namespace, components=states)
                added = await asyncio.gather(*(s.backfill(context, self.history) for s in self.sources))
                return sum(added)
        except TimeoutError:
            log.info("history backfill took longer than %.1f s; starting without it", timeout)
        except Exception as exc:  # the past is a nicety: never keep the collector from starting
            log.warning("history backfill failed: %s", exc)
        return 0

    async def _run(self) -> None:
        if self.ticks == 0 and any(type(s).backfill is not Source.backfill for s in self.sources):
            await self.backfill()
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            try:
                await self.collect_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug in a merge must not end collection
                log.exception("collector tick failed")
            next_at += self.interval_s
            now = loop.time()
            if now > next_at:
                self.late_ticks += 1
                skipped = int((now - next_at) // self.interval_s) + 1
                next_at += skipped * self.interval_s
            await asyncio.sleep(next_at - now)

    async def _tick(self) -> Snapshot:
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.interval_s * _TICK_BUDGET
        now = time.time()
        errors: list[str] = []

        # without any state yet there is nothing to show: the first call may take the whole tick
        budget = self.interval_s * (_CONNECTOR_BUDGET if self._states else _TICK_BUDGET)
        finished, result = await self._bounded.run("connector", self.connector.get_component_states, budget)
        if not finished:
            errors.append(f"connector: no answer within {budget:.2f} s (last state shown)")
        elif isinstance(result, BaseException):
            errors.append(f"connector: {result}")
        else:
            self._states = dict(result)
        context = TickContext(now=now, namespace=self.namespace, components=self._states)

        async def run_source(source: Source) -> SourceReport:
            budget = deadline - loop.time()
            if source.timeout_s is not None:
                budget = min(budget, source.timeout_s)
            done, report = await self._bounded.run(id(source), lambda: source.collect(context), budget)
            previous = self._reports.get(id(source), SourceReport())
            if not done:
                errors.append(f"{source.name}: no answer within {max(budget, 0):.2f} s (last values shown, stale)")
            elif isinstance(report, BaseException):
                log.warning("metrics source %s failed: %r", source.name, report)
                errors.append(f"{source.name}: failed: {report}")
            else:
                self._reports[id(source)] = report
                return report
            late = getattr(source, "late_report", None)
            if callable(late):
                try:
                    fallback = late(context)
                except Exception as exc:  # a bug there must not cost the tick
                    log.warning("late report of %s failed: %r", source.name, exc)
                else:
                    previous = dataclasses.replace(previous, replica_signals=fallback.replica_signals)
            return dataclasses.replace(
                previous, signals=_stale(previous.signals), replica_signals=_stale(previous.replica_signals), errors=()
            )

        reports = await asyncio.gather(*(run_source(s) for s in self.sources))
        return self._merge(context, reports, errors)

    def _merge(self, context: TickContext, reports: Sequence[SourceReport], errors: list[str]) -> Snapshot:
        gpus: dict[tuple[GpuOrigin, str | None, int], GpuSample] = {}
        gpu_status: str | None = None
        host: HostSample | None = None
        usage: dict[str, ReplicaUsage] = {}
        gpu_memory: dict[str, float] = {}
        signals: dict[tuple[str, object, str | None], SignalValue] = {}
        holders = context.gpu_holders() if has_local_gpus(self.connector) else {}
        local_hosts = (None, "simulated", socket.gethostname())
        for report in reports:
            for gpu in report.gpus or ():
                key = (gpu.origin, gpu.host, gpu.index)
                if key in gpus:
                    continue  # the first report of a GPU wins (replicas sharing one report it each)
                if not gpu.holders and gpu.host in local_hosts and gpu.index in holders:
                    gpu = dataclasses.replace(gpu, holders=holders[gpu.index])
                gpus[key] = gpu
            gpu_status = gpu_status or report.gpu_status
            host = host or report.host
            usage.update(report.usage)
            gpu_memory.update(report.gpu_memory)
            for value in (*report.signals, *report.replica_signals):
                signals.setdefault((value.component, value.signal, value.replica), value)
            errors.extend(report.errors)
        for replica, mib in gpu_memory.items():
            usage[replica] = dataclasses.replace(usage.get(replica, ReplicaUsage()), gpu_memory_mib=mib)
        values = list(signals.values())
        return Snapshot(
            timestamp=context.now,
            namespace=self.namespace,
            components=context.components,
            signals=tuple(v for v in values if v.replica is None),
            replica_signals=tuple(v for v in values if v.replica is not None),
            gpus=tuple(gpus[k] for k in sorted(gpus, key=lambda k: (k[0].value, k[1] or "", k[2]))),
            gpu_status=gpu_status,
            host=host or HostSample(),
            usage=usage,
            late_ticks=self.late_ticks,
            errors=tuple(errors),
        )
