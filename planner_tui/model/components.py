"""Component records: what a component is (spec) and how it stands (state)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from planner_tui.model.replicas import Phase, ReplicaState


class Role(StrEnum):
    """What a component does in the serving graph (the graph file's ``role`` key)."""

    FRONTEND = "frontend"
    ROUTER = "router"
    PREFILL = "prefill"
    DECODE = "decode"
    WORKER = "worker"  # aggregated prefill+decode
    ENCODER = "encoder"
    OTHER = "other"


def sub_component_type_of(role: Role, explicit: str | None) -> str | None:
    """A component's ``sub_component_type``: the explicit setting, else ``prefill``/``decode`` from its role."""
    if explicit:
        return explicit
    return role.value if role in (Role.PREFILL, Role.DECODE) else None


@dataclass(frozen=True, slots=True)
class ComponentSpec:
    """The connector-independent description of a component.

    ``sub_component_type`` is ``prefill`` or ``decode`` for the disaggregated workers (the key the
    planner and the Global Planner contract use to pick a component), otherwise None.
    """

    name: str
    role: Role
    sub_component_type: str | None = None
    min_replicas: int = 1
    max_replicas: int = 1
    gpus_per_replica: int = 0
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ComponentState:
    """A component at one instant: its spec, the desired count and its replicas."""

    spec: ComponentSpec
    desired_replicas: int
    replicas: tuple[ReplicaState, ...] = ()

    @property
    def name(self) -> str:
        """The component's name."""
        return self.spec.name

    @property
    def current_replicas(self) -> int:
        """Replicas that provide or are about to provide capacity (starting, running, ready)."""
        return sum(1 for r in self.replicas if r.phase.is_live)

    @property
    def ready_replicas(self) -> int:
        """Replicas whose health or metrics endpoint answers."""
        return sum(1 for r in self.replicas if r.phase is Phase.READY)

    @property
    def starting_replicas(self) -> int:
        """Replicas still warming up (starting or running but not yet ready)."""
        return sum(1 for r in self.replicas if r.phase in (Phase.STARTING, Phase.RUNNING))

    @property
    def is_stable(self) -> bool:
        """True when every desired replica is ready and nothing is starting or stopping."""
        return self.ready_replicas == self.desired_replicas == len(self.replicas)
