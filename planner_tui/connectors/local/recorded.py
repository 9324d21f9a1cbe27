"""A local graph's replicas as its state file records them, read without circusd or a connector.

The dashboard's first frame draws these rows while the connector starts (or attaches to) the graph
behind it; the first collection replaces them. Nothing here locks, starts or changes anything: the
state file is replaced atomically, so a plain read sees a whole one.
"""

from __future__ import annotations

from pathlib import Path

from planner_tui.config.document import GraphOutline
from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.local.processes import is_running
from planner_tui.connectors.local.state_file import StateStore, read_state_file
from planner_tui.model.components import ComponentState
from planner_tui.model.replicas import Phase, ReplicaState

#: this backend's replicas hold this machine's GPUs (read through NVML)
LOCAL_GPUS = True
#: what a recorded replica whose process runs is until the connector has probed it
UNCONFIRMED = "running; readiness not checked yet"


def recorded_states(graph: GraphOutline, state_dir: Path | str | None = None) -> dict[str, ComponentState]:
    """Every component of the ``graph`` file's outline with the replicas its state file records (none without a file).

    A replica whose process runs reads ``running`` (readiness is the connector's to check), one that
    was marked failed reads ``failed``, any other ``starting`` (the connector starts it). A state file
    that cannot be read counts as none: the connector reports it once it opens the graph.
    """
    store = StateStore(graph.namespace, state_dir)
    try:
        state = read_state_file(store.path)
    except ConnectorError:
        state = None
    by_component: dict[str, list[ReplicaState]] = {}
    desired: dict[str, int] = {}
    if state is not None:
        desired = dict(state.desired)
        for record in state.replicas.values():
            if record.stopping or record.component not in graph.components:
                continue
            if record.failed_reason:
                phase, reason = Phase.FAILED, record.failed_reason
            elif record.pid is not None and is_running(record.pid, record.pid_create_time):
                phase, reason = Phase.RUNNING, UNCONFIRMED
            else:
                phase, reason = Phase.STARTING, None
            by_component.setdefault(record.component, []).append(
                ReplicaState(
                    component=record.component,
                    index=record.index,
                    phase=phase,
                    pid=record.pid if phase is Phase.RUNNING else None,
                    restarts=record.restarts,
                    gpus=tuple(record.gpus),
                    port=record.port,
                    started_at=record.started_at if phase is Phase.RUNNING else None,
                    reason=reason,
                )
            )
    return {
        name: ComponentState(
            spec=spec,
            desired_replicas=desired.get(name, graph.initial_replicas[name]),
            replicas=tuple(sorted(by_component.get(name, []), key=lambda r: r.index)),
        )
        for name, spec in graph.components.items()
    }
