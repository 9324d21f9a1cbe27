"""``planner-tui dashboard`` (and plain ``planner-tui``): the Textual dashboard on a graph.

The first frame comes before the heavy imports: the graph file is read and outlined (TOML only), and a
child process validates it and then reads the GPUs and the state file
(:class:`~planner_tui.runtime.opening.SessionOpener`) while Textual is imported here; a bad file is
reported before the dashboard starts. The graph's models, the runtime and the Session load after the
first frame.
"""

from __future__ import annotations

import click

from planner_tui.cli.dashboard_options import dashboard_options
from planner_tui.cli.errors import EXIT_CONFIG, report_config_errors
from planner_tui.config.document import outline_of, parse_graph_document, read_graph_text
from planner_tui.config.paths import demo_graph_path


@click.command("dashboard")
@dashboard_options("Graph file (TOML). Default: the embedded demo graph.")
@report_config_errors
def dashboard(graph_file: str | None, read_only: bool, theme: str | None, advisory: bool) -> None:
    """Watch the graph and the planner live; keys scale, restart, pin and tail logs (? for help)."""
    path = graph_file or demo_graph_path()
    source = str(path)
    text = read_graph_text(path)
    outline = outline_of(parse_graph_document(text, source))
    from planner_tui.model import PlannerMode
    from planner_tui.runtime.opening import SessionOpener

    mode = PlannerMode.ADVISORY if advisory else None
    # validation and the first look start on another core now, while Textual is imported
    opener = SessionOpener(text, source, outline, mode=mode, read_only=read_only)
    try:
        from planner_tui.tui.run import available_theme_names, run_dashboard

        if theme is not None:
            names = available_theme_names()
            if theme not in names:
                click.echo(f"unknown theme {theme!r}; available: {', '.join(names)}", err=True)
                raise SystemExit(EXIT_CONFIG)
        opener.check()  # a bad graph file is reported here, before the dashboard starts
        run_dashboard(opener, read_only=read_only, theme=theme)
    finally:
        opener.close()  # nothing left running: a child still reading (a hung driver) is stopped
