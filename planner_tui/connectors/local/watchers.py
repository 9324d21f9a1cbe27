"""One circus watcher per replica: its name, rendered command, environment and log streams."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner_tui.config.commands import resolve_executable
from planner_tui.config.graph import GraphConfig
from planner_tui.config.templates import ReplicaContext
from planner_tui.connectors.local import logs

STREAM_CLASS = "planner_tui.connectors.local.log_stream.ReplicaLogStream"


def watcher_name(namespace: str, component: str, index: int) -> str:
    """``{namespace}_{component}_{index}``: names are unique per namespace and sort by replica."""
    return f"{namespace}_{component}_{index}"


def replica_index(namespace: str, component: str, watcher: str) -> int | None:
    """The replica index in ``watcher``'s name when it is one of ``component``'s (inverse of watcher_name)."""
    prefix = watcher_name(namespace, component, 0)[:-1]
    rest = watcher[len(prefix) :] if watcher.startswith(prefix) else ""
    return int(rest) if rest.isascii() and rest.isdigit() else None


def replica_context(
    graph: GraphConfig,
    component: str,
    index: int,
    gpus: tuple[int, ...],
    port: int | None,
    working_dir: str | None = None,
) -> ReplicaContext:
    """The placeholder values of one replica (``{ports.NAME}`` = fixed ports of the graph, ``{python}``
    the graph's interpreter, a relative one taken from ``working_dir``)."""
    fixed = {name: c.port for name, c in graph.components.items() if c.port is not None}
    return ReplicaContext(
        namespace=graph.namespace,
        component=component,
        replica=index,
        port=port,
        gpus=gpus,
        ports=fixed,
        python=graph.python_path(working_dir),
    )


def replica_urls(
    graph: GraphConfig, component: str, index: int, gpus: tuple[int, ...], port: int | None
) -> tuple[str | None, str | None]:
    """The replica's rendered ``(metrics_url, health_url)``."""
    comp = graph.components[component]
    ctx = replica_context(graph, component, index, gpus, port)
    metrics = ctx.render(comp.metrics_url) if comp.metrics_url else None
    health = ctx.render(comp.health_url) if comp.health_url else None
    return metrics, health


@dataclass(frozen=True, slots=True)
class WatcherSpec:
    """What circus needs to run one replica, or why it cannot (``problem``)."""

    name: str
    cmd: str
    args: list[str]
    options: dict[str, Any]
    problem: str | None = None


def _absolute_home(env: dict[str, str]) -> str:
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.abspath(os.path.expanduser(home))


def build_watcher(
    graph: GraphConfig,
    component: str,
    index: int,
    gpus: tuple[int, ...],
    port: int | None,
    working_dir: str,
    log_dir: Path,
    log_max_bytes: int = logs.MAX_BYTES,
    log_backups: int = logs.BACKUPS,
) -> WatcherSpec:
    """Render one replica's watcher: command and args with placeholders, env (the graph's ``env``, then the
    component's), GPUs, logs, stop timeout."""
    comp = graph.components[component]
    ctx = replica_context(graph, component, index, gpus, port, working_dir)
    name = watcher_name(graph.namespace, component, index)
    env = dict(os.environ)
    env.setdefault("PYTHONUNBUFFERED", "1")  # replicas' log lines show up as they are written
    env.update({key: ctx.render(value) for key, value in graph.component_env(component).items()})
    env["HOME"] = _absolute_home(env)
    # A replica only sees the GPUs it was given; components without GPUs see none.
    env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in gpus)
    env["PLANNER_TUI_REPLICA"] = name
    if port is not None:
        env["PLANNER_TUI_PORT"] = str(port)
    cwd = os.path.abspath(os.path.expanduser(ctx.render(comp.working_dir))) if comp.working_dir else working_dir
    if comp.command is None:  # the graph checks require it for local graphs; this guards a hand-built config
        raise ValueError(f"component {component!r} has no command, so it cannot run as a local process")
    command = ctx.render(comp.command)
    args = [ctx.render(arg) for arg in comp.args]
    executable, problem = resolve_executable(command, env.get("PATH"), cwd)
    if problem is None and not os.path.isdir(cwd):
        problem = f"working directory {cwd!r} does not exist"
    streams = {}
    for stream in ("stdout", "stderr"):
        streams[f"{stream}_stream"] = {
            "class": STREAM_CLASS,
            "filename": str(logs.log_path(log_dir, name, stream)),
            "max_bytes": log_max_bytes,
            "backup_count": log_backups,
        }
    options: dict[str, Any] = {
        "env": env,
        "copy_env": False,
        "working_dir": cwd,
        "numprocesses": 1,
        "respawn": False,  # crashes are restarted by the connector, with backoff and a limit
        "max_retry": 1,
        "graceful_timeout": float(comp.graceful_timeout_s),
        "close_child_stdin": True,
        **streams,
    }
    return WatcherSpec(name=name, cmd=shlex.quote(executable), args=args, options=options, problem=problem)
