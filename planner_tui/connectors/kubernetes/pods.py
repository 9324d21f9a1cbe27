"""Pods as replica rows: phase, readiness, restarts, node, age and the reason a person needs.

Pure functions on the API server's pod JSON. A pod waiting in ``CrashLoopBackOff`` (or an image
pull back-off) is a crashed replica whose reason carries the kubelet's message; a pending pod the
scheduler could not place is a starting replica whose reason is the scheduler's message
(``Unschedulable: 0/3 nodes are available: ...``); a terminating pod is stopping.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from planner_tui.model.replicas import Phase, ReplicaState

#: container waiting reasons that mean the replica is not coming up by itself
STUCK_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
    }
)
REASON_MAX = 300


def parse_time(text: Any) -> float | None:
    """A Unix timestamp from an RFC 3339 time of the API (``2024-05-01T10:00:00Z``), else None."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _condition(status: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or ():
        if isinstance(condition, Mapping) and condition.get("type") == kind:
            return condition
    return None


def _waiting(status: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first container (init containers first) waiting with a reason: ``(reason, message)``."""
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in status.get(key) or ():
            waiting = ((container or {}).get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                return str(waiting["reason"]), str(waiting.get("message") or "")
    return None


def _with_message(reason: str, message: str) -> str:
    text = f"{reason}: {message}" if message else reason
    return " ".join(text.split())[:REASON_MAX]


def is_ready(pod: Mapping[str, Any]) -> bool:
    """True when the pod's Ready condition is True."""
    condition = _condition(pod.get("status") or {}, "Ready")
    return condition is not None and condition.get("status") == "True"


def restarts(pod: Mapping[str, Any]) -> int:
    """Container restarts of the pod, summed."""
    return sum(
        int((c or {}).get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or ()
    )


def phase_and_reason(pod: Mapping[str, Any]) -> tuple[Phase, str | None]:
    """The replica phase of a pod and why it is not ready (None when ready)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp"):
        return Phase.STOPPING, "terminating"
    pod_phase = status.get("phase") or "Pending"
    if pod_phase == "Failed":
        return Phase.FAILED, _with_message(status.get("reason") or "Failed", status.get("message") or "")
    if pod_phase == "Succeeded":
        return Phase.FAILED, "exited (Succeeded): a serving replica should not finish"
    waiting = _waiting(status)
    if waiting is not None and waiting[0] in STUCK_REASONS:
        return Phase.CRASHED, _with_message(*waiting)
    if pod_phase == "Pending":
        scheduled = _condition(status, "PodScheduled")
        if scheduled is not None and scheduled.get("status") == "False":
            return Phase.STARTING, _with_message(
                str(scheduled.get("reason") or "Unschedulable"), str(scheduled.get("message") or "")
            )
        if waiting is not None:
            return Phase.STARTING, _with_message(*waiting)
        return Phase.STARTING, "Pending"
    if pod_phase == "Running":
        if is_ready(pod):
            return Phase.READY, None
        ready = _condition(status, "Ready") or {}
        return Phase.RUNNING, _with_message("not ready", str(ready.get("message") or ""))
    return Phase.STARTING, _with_message(str(pod_phase), str(status.get("message") or ""))


def started_at(pod: Mapping[str, Any]) -> float | None:
    """When the pod started (``status.startTime``), else when it was created."""
    return parse_time((pod.get("status") or {}).get("startTime")) or parse_time(
        (pod.get("metadata") or {}).get("creationTimestamp")
    )


def pod_order(pod: Mapping[str, Any]) -> tuple[float, str]:
    """Oldest first, then by name: the order that numbers a component's replicas."""
    meta = pod.get("metadata") or {}
    return parse_time(meta.get("creationTimestamp")) or 0.0, str(meta.get("name") or "")


def replicas_of(component: str, pods: Iterable[Mapping[str, Any]]) -> tuple[ReplicaState, ...]:
    """The replica rows of ``component`` from its pods, oldest first (index = position)."""
    rows = []
    for index, pod in enumerate(sorted(pods, key=pod_order)):
        phase, reason = phase_and_reason(pod)
        rows.append(
            ReplicaState(
                component=component,
                index=index,
                phase=phase,
                pod_name=str((pod.get("metadata") or {}).get("name")),
                node=(pod.get("spec") or {}).get("nodeName") or None,
                restarts=restarts(pod),
                started_at=started_at(pod),
                reason=reason,
            )
        )
    return tuple(rows)


def matches(selector: Mapping[str, str], labels: Mapping[str, str] | None) -> bool:
    """True when every ``key=value`` of ``selector`` is among ``labels``."""
    labels = labels or {}
    return all(labels.get(key) == value for key, value in selector.items())


def label_selector(labels: Mapping[str, str]) -> str:
    """``a=1,b=2``: the label selector text of equality matches."""
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))
