"""Replica records: one running (or failed) instance of a component."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    """Lifecycle phase of one replica, as a person reads it on the dashboard."""

    STARTING = "starting"  # asked for, process not yet confirmed running
    RUNNING = "running"  # process is up, health/metrics endpoint not answering yet
    READY = "ready"  # health URL or metrics endpoint answers
    STOPPING = "stopping"  # SIGTERM sent, inside the graceful timeout
    CRASHED = "crashed"  # exited unexpectedly, will be restarted with backoff
    FAILED = "failed"  # cannot start or keeps crashing; not restarted again

    @property
    def is_live(self) -> bool:
        """True while the replica provides or is about to provide capacity."""
        return self in (Phase.STARTING, Phase.RUNNING, Phase.READY)


@dataclass(frozen=True, slots=True)
class ReplicaState:
    """One replica of a component at one instant.

    ``index`` is the replica's number within its component (watcher ``{ns}_{component}_{index}``
    locally, pod ordinal in Kubernetes). ``pid`` is set for local processes, ``pod_name`` for pods.
    ``started_at`` is a Unix timestamp. ``reason`` explains a crashed or failed phase.
    ``metrics_url``/``health_url`` are the replica's rendered endpoints, when it has them.
    ``node`` is the Kubernetes node a pod runs on (None for local processes and unscheduled pods).
    """

    component: str
    index: int
    phase: Phase
    pid: int | None = None
    pod_name: str | None = None
    restarts: int = 0
    exit_code: int | None = None
    gpus: tuple[int, ...] = ()
    port: int | None = None
    started_at: float | None = None
    reason: str | None = None
    metrics_url: str | None = None
    health_url: str | None = None
    node: str | None = None

    @property
    def name(self) -> str:
        """A short, stable label: ``decode-2`` style, or the pod name."""
        return self.pod_name or f"{self.component}-{self.index}"

    def uptime(self, now: float) -> float | None:
        """Seconds since the replica started, or None if it has not started."""
        if self.started_at is None:
            return None
        return max(0.0, now - self.started_at)


@dataclass(frozen=True, slots=True)
class ReplicaUsage:
    """Resource use of one replica's process (psutil) and its GPU memory (NVML), if known."""

    cpu_percent: float | None = None
    rss_bytes: int | None = None
    threads: int | None = None
    gpu_memory_mib: float | None = None
