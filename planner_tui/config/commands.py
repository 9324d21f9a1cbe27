"""Whether each component's command can be started: the executable and working directory exist.

The local connector resolves a replica's executable with :func:`resolve_executable` when it starts
it; ``config check`` and ``plan`` resolve them the same way first, so a typo is reported before
anything runs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

from planner_tui.config.errors import ConfigError, Problem
from planner_tui.config.graph import GraphConfig


def resolve_executable(command: str, path_env: str | None, working_dir: str) -> tuple[str, str | None]:
    """``(resolved path, problem)``: a bare name is looked up on PATH, a path relative to ``working_dir``."""
    if os.sep in command:
        full = command if os.path.isabs(command) else os.path.join(working_dir, command)
        if not os.path.exists(full):
            return full, f"executable {command!r} does not exist (looked in {working_dir})"
        if not os.access(full, os.X_OK) or os.path.isdir(full):
            return full, f"{full!r} is not an executable file"
        return full, None
    found = shutil.which(command, path=path_env)
    if found is None:
        return command, f"executable {command!r} not found on PATH ({path_env or ''})"
    return found, None


def command_problems(graph: GraphConfig, working_dir: str | None = None) -> list[Problem]:
    """One problem per component whose executable or working directory is missing (and one for the
    graph's ``python`` when it names no interpreter).

    Rendered with replica 0's placeholder values, the component's ``env`` (its PATH, if it sets one)
    and ``working_dir`` (default: ``working_dir``, else the current directory), as the connector does.
    """
    base = os.path.abspath(working_dir or os.getcwd())
    problems: list[Problem] = []
    if graph.python is not None:
        python = graph.python_path(base)
        _resolved, problem = resolve_executable(python, os.environ.get("PATH"), base)
        if problem:
            problems.append(Problem(("python",), f"{problem}; set python to an interpreter, e.g. a venv's bin/python"))
    for name, comp in graph.components.items():
        if comp.command is None:
            continue  # runs elsewhere (Kubernetes): nothing to resolve here; the graph checks require it locally
        ctx = dataclasses.replace(graph.sample_context(name), python=graph.python_path(base))
        try:
            env = {key: ctx.render(value) for key, value in graph.component_env(name).items()}
            cwd = os.path.abspath(os.path.expanduser(ctx.render(comp.working_dir))) if comp.working_dir else base
            command = ctx.render(comp.command)
        except ValueError:
            continue  # a {ports.X} without a fixed port: the graph checks report it
        if not os.path.isdir(cwd):
            problems.append(Problem(("components", name, "working_dir"), f"directory {cwd!r} does not exist"))
            continue
        path_env = env["PATH"] if "PATH" in env else os.environ.get("PATH")
        _resolved, problem = resolve_executable(command, path_env, cwd)
        if problem:
            problems.append(Problem(("components", name, "command"), problem))
    return problems


def check_commands(graph: GraphConfig, source: str, working_dir: str | None = None) -> None:
    """Raise :class:`ConfigError` (named after ``source``) when a component's command cannot start."""
    problems = command_problems(graph, working_dir)
    if problems:
        raise ConfigError(source, problems)
