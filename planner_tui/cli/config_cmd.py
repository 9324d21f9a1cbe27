"""``planner-tui config check FILE`` and ``planner-tui config schema``."""

from __future__ import annotations

import json

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.config import graph_json_schema, load_graph
from planner_tui.config.commands import check_commands
from planner_tui.model.text import plural


@click.group("config")
def config_group() -> None:
    """Validate graph files and print their schema."""


@config_group.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=str))
@report_config_errors
def check(file: str) -> None:
    """Validate the graph FILE: one line per problem and exit code 2, or a summary and exit code 0.

    Also checks that every component's command can be found (on PATH, or relative to the current
    directory or the component's working_dir), as ``plan`` will look for it, and that the capacity
    profile (``[planner] profile_file``) reads as the throughput policy reads it.
    """
    graph = load_graph(file)
    check_commands(graph, file)
    if graph.planner.profile_file:
        from planner_tui.planner.profile import load_profile

        load_profile(graph.planner.profile_file)  # as plan reads it: a bad profile is a problem of this graph
    parts = []
    for name, comp in graph.components.items():
        bounds = f"{comp.min_replicas}..{comp.max_replicas}"
        gpus = f", {comp.gpus_per_replica} GPU/replica" if comp.gpus_per_replica else ""
        parts.append(f"{name} ({comp.role.value}, {bounds}{gpus})")
    count = plural(len(graph.components), "component")
    click.echo(f"{file}: ok: namespace {graph.namespace!r}, {count}: " + ", ".join(parts))


@config_group.command("schema")
def schema() -> None:
    """Print the JSON schema of the graph file."""
    click.echo(json.dumps(graph_json_schema(), indent=2))
