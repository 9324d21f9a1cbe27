"""GPU and port allocation for new replicas, across every namespace under one state directory.

GPUs come from the graph's ``resources.gpus`` list or from NVML (``"auto"``); each replica gets
``gpus_per_replica`` whole GPUs. Ports come from ``resources.port_range`` (or the component's fixed
``port``) and are checked free on 127.0.0.1. The caller holds the state lock while allocating, so two
planner-tui processes never hand out the same GPU or port.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from planner_tui.config.graph import ComponentConfig, GraphConfig
from planner_tui.connectors.errors import ScalingRefused
from planner_tui.connectors.local.processes import describe_holder, port_listener
from planner_tui.connectors.local.processes import is_running as process_alive
from planner_tui.connectors.local.state_file import NamespaceState
from planner_tui.model.text import plural


@dataclass(frozen=True, slots=True)
class Allocation:
    """What one new replica gets."""

    gpus: tuple[int, ...]
    port: int | None


@dataclass(slots=True)
class Holdings:
    """Who holds which GPU and port right now (holder = watcher name)."""

    gpus: dict[int, str] = field(default_factory=dict)
    ports: dict[int, str] = field(default_factory=dict)


def gpu_inventory(graph: GraphConfig) -> tuple[list[int], str | None]:
    """The GPU indices this graph may use and, when there are none, why.

    Declared GPUs win; ``"auto"`` asks NVML (imported lazily through the metrics area).
    """
    declared = graph.resources.gpus
    if isinstance(declared, list):
        return sorted(declared), None
    try:
        from planner_tui.metrics.nvml import list_gpu_indices
    except ImportError:
        return [], "GPU discovery through NVML is not available; declare resources.gpus = [0, 1, ...]"
    try:
        return sorted(list_gpu_indices()), None
    except Exception as exc:  # NvmlUnavailable(reason) and driver errors
        return [], f"no GPUs found through NVML ({exc}); declare resources.gpus = [0, 1, ...] if there are any"


def holdings_of(states: Iterable[NamespaceState], live_only: bool = True) -> Holdings:
    """GPUs and ports held by the replicas recorded in ``states``.

    With ``live_only`` a namespace whose circusd is gone counts only replicas whose pid still runs
    (orphans after a circusd crash still hold their GPU); a stale file holds nothing.
    """
    held = Holdings()
    for state in states:
        circus_alive = state.circusd is not None and process_alive(state.circusd.pid, state.circusd.create_time)
        for name, rec in state.replicas.items():
            if live_only and not circus_alive and not process_alive(rec.pid, rec.pid_create_time):
                continue
            for gpu in rec.gpus:
                held.gpus[gpu] = name
            if rec.port is not None:
                held.ports[rec.port] = name
    return held


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port`` (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _describe_holders(held: dict[int, str], keys: Sequence[int], what: str) -> str:
    parts = [f"{what} {k}: {held[k]}" for k in keys if k in held]
    return ", ".join(parts) if parts else "none held"


def allocate(
    graph: GraphConfig,
    component: str,
    count: int,
    held: Holdings,
    inventory: Sequence[int],
    inventory_problem: str | None = None,
    port_free: Callable[[int], bool] = port_is_free,
) -> list[Allocation]:
    """Allocations for ``count`` new replicas of ``component``, or ScalingRefused saying what is short.

    Nothing is reserved here: the caller records the result in the state file under the lock.
    """
    if count <= 0:
        return []
    comp: ComponentConfig = graph.components[component]
    per = comp.gpus_per_replica
    gpus: list[tuple[int, ...]] = [() for _ in range(count)]
    if per:
        free = [g for g in inventory if g not in held.gpus]
        need = per * count
        if len(free) < need:
            if not inventory:
                detail = inventory_problem or "no GPUs are declared in resources.gpus"
                raise ScalingRefused(
                    f"cannot add {plural(count, 'replica')} to {component!r}: it needs {plural(need, 'GPU')}; {detail}"
                )
            raise ScalingRefused(
                f"cannot add {plural(count, 'replica')} to {component!r}: needs {plural(need, 'GPU')} "
                f"({per} per replica), only {len(free)} of {len(inventory)} free "
                f"({_describe_holders(held.gpus, inventory, 'GPU')}); scale another component down "
                "or declare more GPUs in resources.gpus"
            )
        gpus = [tuple(free[i * per : (i + 1) * per]) for i in range(count)]
    ports = _allocate_ports(graph, comp, component, count, held, port_free)
    return [Allocation(g, p) for g, p in zip(gpus, ports, strict=True)]


def allocate_port(
    graph: GraphConfig, component: str, held: Holdings, port_free: Callable[[int], bool] = port_is_free
) -> int:
    """A free port of ``resources.port_range`` for an existing replica of ``component`` whose port was
    taken by another program (ScalingRefused when the range has none). The caller holds the state lock.
    """
    comp = graph.components[component]
    if comp.port is not None:
        raise ScalingRefused(f"{component!r} has the fixed port {comp.port}; it cannot move to another port")
    return _allocate_ports(graph, comp, component, 1, held, port_free)[0]


def _allocate_ports(
    graph: GraphConfig,
    comp: ComponentConfig,
    component: str,
    count: int,
    held: Holdings,
    port_free: Callable[[int], bool],
) -> list[int]:
    if comp.port is not None:
        if count > 1:
            raise ScalingRefused(f"{component!r} has the fixed port {comp.port}, so it runs one replica at most")
        if comp.port in held.ports:
            raise ScalingRefused(f"port {comp.port} of {component!r} is held by {held.ports[comp.port]}")
        if not port_free(comp.port):
            pid, name = port_listener(comp.port)
            holder = f" ({describe_holder(pid, name)})" if pid is not None else ""
            raise ScalingRefused(
                f"port {comp.port} of {component!r} is in use by another program{holder} on 127.0.0.1; "
                "stop it or change components." + component + ".port"
            )
        return [comp.port]
    first, last = graph.resources.port_range
    fixed = {c.port for c in graph.components.values() if c.port is not None}
    out: list[int] = []
    busy = 0
    for port in range(first, last + 1):
        if len(out) == count:
            break
        if port in held.ports or port in fixed:
            continue
        if not port_free(port):
            busy += 1
            continue
        out.append(port)
    if len(out) < count:
        raise ScalingRefused(
            f"cannot add {plural(count, 'replica')} to {component!r}: only {plural(len(out), 'free port')} in "
            f"resources.port_range {first}-{last} ({len(held.ports)} held by replicas, {busy} used by other "
            "programs); widen the port range"
        )
    return out
