"""The graph under a runtime Session for profiling: the planner paused, one replica per measured component.

:func:`measured_components` picks what to measure (prefill and decode components, or the ones named);
:func:`profiling_graph` is the graph as profiled (planner paused, measured components at one replica);
:func:`bring_up` opens it through :class:`~planner_tui.runtime.session.Session` (starting the graph, or
attaching to one left running), pins every measured component at one replica, and waits, on the
session's Snapshots, until each is ready; it returns where the frontend and the workers' metrics are.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from planner_tui.config.errors import ConfigError, Problem
from planner_tui.config.graph import GraphConfig
from planner_tui.config.loader import validate_graph
from planner_tui.loadcontrol.locate import load_control_url
from planner_tui.model.components import Role
from planner_tui.model.decisions import PlannerMode
from planner_tui.model.replicas import Phase as ReplicaPhase
from planner_tui.model.snapshot import Snapshot
from planner_tui.profiling.records import Phase
from planner_tui.runtime.events import SnapshotReady
from planner_tui.runtime.ownership import GraphOwnedError
from planner_tui.runtime.session import Session

#: seconds added to the slowest component's ready_timeout_s before bring-up gives up
READY_MARGIN_S = 30.0
_ROLE_PHASE = {Role.PREFILL: Phase.PREFILL, Role.DECODE: Phase.DECODE}


class BringUpError(Exception):
    """The graph could not be brought up for profiling; the message names the component and the fix."""


def measured_components(graph: GraphConfig, source: str, names: Sequence[str] = ()) -> dict[str, Phase]:
    """The components to measure and the phase of each: ``names``, else every prefill and decode component.

    Raises :class:`ConfigError` for an unknown name or a role that cannot be profiled.
    """
    problems: list[Problem] = []
    chosen: dict[str, Phase] = {}
    for name in names or [n for n, c in graph.components.items() if c.role in _ROLE_PHASE]:
        comp = graph.components.get(name)
        if comp is None:
            known = ", ".join(graph.components)
            problems.append(Problem(("--component",), f"no component {name!r} in the graph; it has: {known}"))
            continue
        phase = _ROLE_PHASE.get(comp.role)
        if phase is None:
            problems.append(
                Problem(
                    ("components", name, "role"),
                    f"{name} is a {comp.role.value}: only prefill and decode components can be profiled "
                    "(an aggregated worker's capacity is written by hand, see the README)",
                )
            )
            continue
        chosen[name] = phase
    if not chosen and not problems:
        problems.append(
            Problem(("components",), "no prefill or decode component to profile; name one with --component")
        )
    if problems:
        raise ConfigError(source, problems)
    return chosen


def profiling_graph(graph: GraphConfig, measured: Sequence[str]) -> GraphConfig:
    """``graph`` with the planner paused and every measured component starting (and kept) at one replica."""
    data = graph.model_dump(mode="json", exclude_none=True)
    data["planner"]["mode"] = PlannerMode.PAUSED.value
    for name in measured:
        comp = data["components"][name]
        comp["min_replicas"] = min(1, comp.get("min_replicas", 1))
        comp["initial_replicas"] = 1
        comp["max_replicas"] = max(1, comp.get("max_replicas", 1))
    return validate_graph(data, f"{graph.namespace} (profiling)")


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where the load goes and where the servers' metrics are read."""

    frontend_url: str  # base URL of the frontend's API (the sim's control endpoint, or the OpenAI one)
    simulated: bool  # the graph's frontend is planner-tui's simulated frontend
    frontend_metrics_url: str | None
    workers: dict[str, list[str]]  # measured component -> its replicas' metrics URLs


def _base_url(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _ready_problem(snapshot: Snapshot, measured: Sequence[str]) -> str | None:
    """What is not ready yet (None: every component serving, each measured one on exactly one ready replica)."""
    for name, state in snapshot.components.items():
        live = [r for r in state.replicas if r.phase.is_live]
        ready = [r for r in live if r.phase is ReplicaPhase.READY]
        if name in measured and (len(live) != 1 or len(ready) != 1):
            reasons = "; ".join(f"{r.name} {r.phase.value}" + (f": {r.reason}" if r.reason else "") for r in live)
            return f"{name} has {len(live)} live replica(s), {len(ready)} ready ({reasons or 'none'})"
        if live and not ready:
            reasons = "; ".join(f"{r.name} {r.phase.value}" + (f": {r.reason}" if r.reason else "") for r in live)
            return f"{name} has no ready replica ({reasons})"
        failed = [r for r in state.replicas if r.phase is ReplicaPhase.FAILED]
        if failed and not ready:
            return f"{name} failed: {failed[0].reason or 'see its logs'}"
    return None


def endpoints_of(
    graph: GraphConfig, snapshot: Snapshot, measured: Sequence[str], frontend_url: str | None
) -> Endpoints:
    """The frontend's API and metrics URLs and the measured workers' metrics URLs, from a ready Snapshot."""
    sim_url = load_control_url(graph)
    frontends = [n for n, c in graph.components.items() if c.role is Role.FRONTEND]
    frontend_metrics = None
    api = frontend_url or sim_url
    for name in frontends:
        state = snapshot.components.get(name)
        replicas = [r for r in state.replicas if r.phase is ReplicaPhase.READY] if state else []
        if replicas:
            frontend_metrics = replicas[0].metrics_url
            if api is None:
                comp = graph.components[name]
                url = replicas[0].health_url or replicas[0].metrics_url
                if comp.port is not None:
                    api = f"http://127.0.0.1:{comp.port}"
                elif url:
                    api = _base_url(url)
            break
    if api is None:
        raise BringUpError(
            "the graph has no frontend whose address is known: give its API with --frontend-url "
            "(e.g. http://127.0.0.1:8000), or a frontend component with a fixed port"
        )
    workers: dict[str, list[str]] = {}
    for name in measured:
        state = snapshot.components[name]
        workers[name] = [r.metrics_url for r in state.replicas if r.phase is ReplicaPhase.READY and r.metrics_url]
    return Endpoints(api, sim_url is not None and frontend_url is None, frontend_metrics, workers)


async def bring_up(graph: GraphConfig, measured: Sequence[str], frontend_url: str | None = None) -> Session:
    """Open ``graph`` (already :func:`profiling_graph`'d) as its owner, one replica per measured component.

    Raises :class:`BringUpError` when another process owns the graph, or a component is not ready in
    time (after its ``ready_timeout_s``); the session is closed (the graph stopped) before raising.
    """
    try:
        session = await Session.open(graph, mode=PlannerMode.PAUSED, publish=True)
    except GraphOwnedError as owned:
        raise BringUpError(
            f"{owned}; profiling needs the graph to itself (one replica per measured component, the planner "
            "paused): stop that process (or let it leave the graph running) and run profile again"
        ) from None
    try:
        for name in measured:
            await session.scale(name, 1, pin=True)  # a graph left running may have more
    except BaseException:
        with contextlib.suppress(Exception):
            await session.close(stop_graph=True)
        raise
    return session


async def wait_ready(session: Session, measured: Sequence[str], timeout_s: float | None = None) -> Snapshot:
    """The first Snapshot in which every component serves and each measured one has exactly one ready replica.

    Waits on the session's Snapshots (no polling); raises :class:`BringUpError` with what is not ready
    after ``timeout_s`` (default: the slowest ``ready_timeout_s`` plus a margin).
    """
    graph = session.graph
    if timeout_s is None:
        timeout_s = max(c.ready_timeout_s for c in graph.components.values()) + READY_MARGIN_S
    latest = session.latest_snapshot
    if latest is not None and _ready_problem(latest, measured) is None:
        return latest
    events = session.subscribe()
    deadline = time.monotonic() + timeout_s
    problem = "no Snapshot yet"
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BringUpError(f"the graph is not ready for profiling after {timeout_s:.0f} s: {problem}")
            try:
                event = await asyncio.wait_for(events.get(), left)
            except TimeoutError:
                continue
            if isinstance(event, SnapshotReady):
                found = _ready_problem(event.snapshot, measured)
                if found is None:
                    return event.snapshot
                problem = found
    finally:
        session.unsubscribe(events)
