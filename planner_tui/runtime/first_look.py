"""The dashboard's first look at a graph, before its Session is open: one Snapshot of this machine's
GPUs and of the replicas the graph's backend has recorded.

The Session (circusd, the graph, the planner, the first collection) takes from a fraction of a second
to several seconds to open; the first frame should not wait for it. :class:`FirstLook` starts reading
the GPUs and the backend's own record (a local graph's state file) as soon as it is made, without
starting or changing anything: in a forked child (:class:`~planner_tui.forking.ForkedSteps`, so that
its imports and NVML do not compete with the dashboard's imports for the GIL, and a driver that
crashes or hangs costs only the first look), else in a thread. The Session's first Snapshot replaces it.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import time
from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import cast

from planner_tui.config.document import GraphOutline
from planner_tui.forking import ForkedSteps, NoResult
from planner_tui.model.components import ComponentState
from planner_tui.model.gpus import GpuOrigin, GpuSample
from planner_tui.model.snapshot import Snapshot

log = logging.getLogger(__name__)

#: the longest :meth:`FirstLook.snapshot` waits for its reader (NVML can take seconds to initialise)
WAIT_S = 0.5


def _recorded_module(graph: GraphOutline) -> ModuleType | None:
    """The backend's ``recorded`` module (what it keeps on this machine about a graph), if it has one."""
    from planner_tui.connectors.factory import BACKENDS

    package = BACKENDS.get(graph.connector_kind)
    if package is None:
        return None
    try:
        return importlib.import_module(f"{package}.recorded")
    except ModuleNotFoundError:
        return None  # a backend that keeps nothing on this machine (a cluster)


#: what a look reads: the recorded components, the GPUs, and why there are none (or None)
Look = tuple[dict[str, ComponentState], tuple[GpuSample, ...], str | None]


def look_at(graph: GraphOutline) -> Look:
    """Read the backend's record of ``graph`` and, for a backend on this machine, its GPUs."""
    components: dict[str, ComponentState] = {}
    gpus: tuple[GpuSample, ...] = ()
    status: str | None = None
    try:
        backend = _recorded_module(graph)
        if backend is None:
            return components, gpus, status
        components = dict(backend.recorded_states(graph))
        if getattr(backend, "LOCAL_GPUS", False) and not graph.simulated_gpus and graph.gpus != ():
            from planner_tui.metrics import nvml
            from planner_tui.metrics.gpu import no_gpu_status

            try:
                gpus = tuple(nvml.read_gpus())
            except nvml.NvmlUnavailable as exc:
                status = no_gpu_status(exc.reason)
    except Exception:  # the first look is a courtesy: the Session reports the real problem
        log.exception("the first look at graph %s failed", graph.namespace)
    return components, gpus, status


class FirstLook:
    """What can be shown of ``graph`` at once, read from construction on (in a child or a thread).

    A look that is not read within :meth:`snapshot`'s timeout (NVML initialising for seconds) is given
    up: the snapshot then has the components as the file outlines them, without replicas or GPUs.
    """

    def __init__(self, graph: GraphOutline, steps: ForkedSteps | None = None) -> None:
        """Start reading; ``steps``, when given, is already running and its next step is this look."""
        self.graph = graph
        self._steps = steps if steps is not None else ForkedSteps(lambda: iter([look_at(graph)]))
        self._look: Look | None = None

    def _read(self, timeout: float) -> Look:
        if self._look is None:
            try:
                self._look = cast(Look, self._steps.next_result(timeout))
            except NoResult as exc:  # a hung or crashed reader: show what the file says
                log.warning("the first look at graph %s gave nothing: %s", self.graph.namespace, exc)
                outlined = {
                    name: ComponentState(spec, self.graph.initial_replicas[name])
                    for name, spec in self.graph.components.items()
                }
                return outlined, (), None
        return self._look

    @property
    def ready(self) -> bool:
        """True when :meth:`snapshot` can answer with the whole look at once."""
        return self._look is not None or self._steps.ready()

    def snapshot(self, timeout: float = WAIT_S) -> Snapshot:
        """The graph as recorded, with this machine's GPUs, as far as they were read within ``timeout``."""
        components, gpus, status = self._read(timeout)
        now = time.time()
        holders: dict[int, list[str]] = {}
        for state in components.values():
            for replica in state.replicas:
                if replica.phase.is_live:
                    for index in replica.gpus:
                        holders.setdefault(index, []).append(replica.name)
        declared = self.graph.gpus
        if self.graph.simulated_gpus and declared is not None:
            # the demo's GPUs are reported by its replicas once they run; until then, the declared ones
            gpus = tuple(
                GpuSample(index, GpuOrigin.SIMULATED, now, name="Simulated GPU", host="simulated") for index in declared
            )
        gpus = tuple(_with_holders(gpu, holders, components) for gpu in gpus)
        return Snapshot(
            timestamp=now,
            namespace=self.graph.namespace,
            components=MappingProxyType(dict(components)),
            gpus=gpus,
            gpu_status=status,
        )


def _with_holders(
    gpu: GpuSample, holders: Mapping[int, list[str]], components: Mapping[str, ComponentState]
) -> GpuSample:
    replica_of_pid = {r.pid: r.name for s in components.values() for r in s.replicas if r.pid is not None}
    processes = tuple(dataclasses.replace(p, replica=replica_of_pid.get(p.pid)) for p in gpu.processes)
    return dataclasses.replace(gpu, holders=tuple(holders.get(gpu.index, ())), processes=processes)
