"""The dashboard's first look at a graph, before its Session is open: one Snapshot of this machine's
GPUs and of the replicas the graph's backend has recorded.

The Session (circusd, the graph, the planner, the first collection) takes from a fraction of a second
to several seconds to open; the first frame should not wait for it. :class:`FirstLook` starts reading
the GPUs in a thread as soon as it is made (NVML's initialisation runs in C, without the GIL, while
the dashboard imports Textual), and :meth:`FirstLook.snapshot` adds the replicas from the backend's
own record (a local graph's state file) without starting or changing anything. The Session's first
Snapshot replaces it.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import threading
import time
from collections.abc import Mapping
from types import MappingProxyType, ModuleType

from planner_tui.config.document import GraphOutline
from planner_tui.model.components import ComponentState
from planner_tui.model.gpus import GpuOrigin, GpuSample
from planner_tui.model.snapshot import Snapshot

log = logging.getLogger(__name__)

#: the longest :meth:`FirstLook.snapshot` waits for its thread (NVML can take seconds to initialise)
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


class FirstLook:
    """What can be shown of ``graph`` at once, read in a thread from construction on."""

    def __init__(self, graph: GraphOutline) -> None:
        self.graph = graph
        self._components: Mapping[str, ComponentState] = {}
        self._gpus: tuple[GpuSample, ...] = ()
        self._gpu_status: str | None = None
        self._read = threading.Event()
        # a daemon thread: a hung driver must never keep the dashboard from exiting
        threading.Thread(target=self._look, name="planner-tui-first-look", daemon=True).start()

    def _look(self) -> None:
        try:
            backend = _recorded_module(self.graph)
            if backend is None:
                return
            self._components = backend.recorded_states(self.graph)
            graph = self.graph
            if getattr(backend, "LOCAL_GPUS", False) and not graph.simulated_gpus and graph.gpus != ():
                from planner_tui.metrics import nvml
                from planner_tui.metrics.gpu import no_gpu_status

                try:
                    self._gpus = tuple(nvml.read_gpus())
                except nvml.NvmlUnavailable as exc:
                    self._gpu_status = no_gpu_status(exc.reason)
        except Exception:  # the first look is a courtesy: the Session reports the real problem
            log.exception("the first look at graph %s failed", self.graph.namespace)
        finally:
            self._read.set()

    def snapshot(self, timeout: float = WAIT_S) -> Snapshot:
        """The graph as recorded, with this machine's GPUs, as far as they were read within ``timeout``."""
        self._read.wait(timeout)
        now = time.time()
        components, gpus, status = self._components, self._gpus, self._gpu_status
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
