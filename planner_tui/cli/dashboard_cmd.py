"""``planner-tui dashboard`` (and plain ``planner-tui``): the Textual dashboard on a graph.

Textual and the runtime are imported only when the command runs, so ``planner-tui --help`` stays fast.
"""

from __future__ import annotations

import click

from planner_tui.cli.dashboard_options import dashboard_options
from planner_tui.cli.errors import EXIT_CONFIG, report_config_errors
from planner_tui.config import demo_graph_path, load_graph


@click.command("dashboard")
@dashboard_options("Graph file (TOML). Default: the embedded demo graph.")
@report_config_errors
def dashboard(graph_file: str | None, read_only: bool, theme: str | None, advisory: bool) -> None:
    """Watch the graph and the planner live; keys scale, restart, pin and tail logs (? for help)."""
    graph = load_graph(graph_file or demo_graph_path())
    from planner_tui.tui.run import available_theme_names, run_dashboard

    if theme is not None:
        names = available_theme_names()
        if theme not in names:
            click.echo(f"unknown theme {theme!r}; available: {', '.join(names)}", err=True)
            raise SystemExit(EXIT_CONFIG)
    run_dashboard(graph, read_only=read_only, theme=theme, advisory=advisory)
