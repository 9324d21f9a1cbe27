"""The ``planner-tui`` command."""

from __future__ import annotations

import click

from planner_tui import __version__
from planner_tui.cli.dashboard_options import dashboard_options
from planner_tui.cli.lazy_group import LazyGroup

# Subcommands are imported when used, so `planner-tui --version` and the dashboard start fast.
COMMANDS: dict[str, str] = {
    "config": "planner_tui.cli.config_cmd:config_group",
    "decisions": "planner_tui.cli.decisions_cmd:decisions",
    "dashboard": "planner_tui.cli.dashboard_cmd:dashboard",
    "gpus": "planner_tui.cli.gpus_cmd:gpus",
    "sim": "planner_tui.cli.sim_cmd:sim_group",
    "status": "planner_tui.cli.status_cmd:status",
    "global-planner": "planner_tui.cli.global_planner_cmd:global_planner_group",
    "plan": "planner_tui.cli.plan_cmd:plan",
    "record": "planner_tui.cli.record_cmd:record",
    "replay": "planner_tui.cli.replay_cmd:replay",
    "compare": "planner_tui.cli.compare_cmd:compare",
    "profile": "planner_tui.cli.profile_cmd:profile",
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "-V", "--version", prog_name="planner-tui")
@dashboard_options(
    "With no command: run the dashboard on this graph file (same as `dashboard --graph FILE`).",
    prefix="With no command: ",
)
@click.pass_context
def cli(ctx: click.Context, graph_file: str | None, read_only: bool, theme: str | None, advisory: bool) -> None:
    """Autoscaling planner and terminal dashboard for LLM serving graphs.

    With no command, runs the dashboard on the embedded demo graph. With --graph FILE, on that graph.
    """
    if ctx.invoked_subcommand is None:
        from planner_tui.cli.dashboard_cmd import dashboard

        ctx.invoke(dashboard, graph_file=graph_file, read_only=read_only, theme=theme, advisory=advisory)
        return
    flags = {"--graph": graph_file, "--read-only": read_only, "--theme": theme, "--advisory": advisory}
    given = [flag for flag, value in flags.items() if value]
    if given:
        raise click.UsageError(
            f"{', '.join(given)} before a command only applies to the dashboard; put it after the command, "
            f"e.g. `planner-tui {ctx.invoked_subcommand} --graph FILE`"
        )


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="planner-tui")
