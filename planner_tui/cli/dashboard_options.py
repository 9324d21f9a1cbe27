"""The dashboard's options, shared by ``planner-tui dashboard`` and the bare ``planner-tui`` (click only,
so the top-level command stays quick to import)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


def dashboard_options(graph_help: str, prefix: str = "") -> Callable[[F], F]:
    """``--graph``, ``--read-only``, ``--theme`` and ``--advisory``; ``prefix`` starts each help text."""
    options = [
        click.option(
            "--graph", "graph_file", type=click.Path(dir_okay=False, path_type=str), default=None, help=graph_help
        ),
        click.option(
            "--read-only",
            is_flag=True,
            help=f"{prefix}watch only (actions that change the graph are hidden and refused)",
        ),
        click.option(
            "--theme", default=None, metavar="NAME", help=f"{prefix}theme, built-in or from themes/ (remembered)"
        ),
        click.option(
            "--advisory",
            is_flag=True,
            help=f"{prefix}start the planner in ADVISORY mode (decide and show, change nothing)",
        ),
    ]

    def apply(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return apply
