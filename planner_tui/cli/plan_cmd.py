"""``planner-tui plan``: the graph, the collector and the planner without a screen.

Prints one summary line per decision. Ctrl-C (or SIGTERM) stops cleanly: the graph is stopped, or
left running with ``--leave-running`` (the dashboard or another ``plan`` can attach to it later).

Exit codes: 0 stopped as asked; 1 the connector failed; 2 a bad graph file (nothing was started);
3 a component can no longer run (every replica failed), named on stderr with the reasons.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import json
import math
import signal
import sys

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.config import GraphConfig, demo_graph_path, load_graph
from planner_tui.config.commands import check_commands
from planner_tui.connectors.errors import ConnectorError
from planner_tui.model.decisions import PlannerMode
from planner_tui.model.text import seconds
from planner_tui.planner.audit import audit_path_for
from planner_tui.planner.records import decision_to_dict, summary_line
from planner_tui.runtime import DecisionMade, GraphObserver, SessionError, SnapshotReady, open_graph
from planner_tui.runtime.events import events_until
from planner_tui.runtime.failures import failed_components
from planner_tui.runtime.gc_tuning import tune_for_long_run
from planner_tui.runtime.speedup import sped_up

EXIT_CONNECTOR = 1
EXIT_COMPONENT_FAILED = 3  # every replica of a component failed: the graph cannot serve


class FiniteRange(click.FloatRange):
    """A float range that also refuses nan (which compares false with both bounds)."""

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        """The number, or a usage error naming the option."""
        number: float = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(f"{value!r} is not a number", param, ctx)
        return number


INTERVAL = FiniteRange(min=0.25, max=3600)  # the graph file's bounds


def runnable_graph(graph_file: str | None, speedup: float | None) -> GraphConfig:
    """The graph a headless command runs: the file (default: the demo) loaded, its commands checked,
    and with ``speedup`` sped up; bad values are click errors naming the option."""
    source = graph_file or demo_graph_path()
    graph = load_graph(source)
    check_commands(graph, str(source))
    if speedup is None:
        return graph
    try:
        return sped_up(graph, speedup)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--speedup") from None


@click.command("plan")
@click.option("--graph", "graph_file", type=click.Path(dir_okay=False), help="graph file (default: the demo)")
@click.option("--advisory", is_flag=True, help="decide and print, change nothing")
@click.option("--leave-running", is_flag=True, help="on exit leave the graph running instead of stopping it")
@click.option("--interval", type=INTERVAL, help="seconds between decisions (overrides the graph)")
@click.option("--metrics-interval", type=INTERVAL, help="seconds between collections (overrides the graph)")
@click.option(
    "--speedup",
    type=FiniteRange(min=0.01, max=1000),
    default=None,
    help="run a simulated graph (the demo) this many times faster: the sim and every interval",
)
@click.option("--decisions", "max_decisions", type=click.IntRange(min=1), help="stop after this many decisions")
@click.option("--json", "as_json", is_flag=True, help="print each decision as a JSON record")
@report_config_errors
def plan(
    graph_file: str | None,
    advisory: bool,
    leave_running: bool,
    interval: float | None,
    metrics_interval: float | None,
    speedup: float | None,
    max_decisions: int | None,
    as_json: bool,
) -> None:
    """Run the graph with its planner headless, printing one line per decision.

    Exits 3 when every replica of a component failed (crash-restart limit reached, or cannot start),
    after stopping the graph (unless --leave-running).
    """
    graph = runnable_graph(graph_file, speedup)
    mode = PlannerMode.ADVISORY if advisory else None
    tune_for_long_run()
    try:
        code = asyncio.run(_run(graph, mode, leave_running, interval, metrics_interval, max_decisions, as_json))
    except ConnectorError as exc:
        click.echo(f"planner-tui plan: {exc}", err=True)
        raise SystemExit(EXIT_CONNECTOR) from None
    raise SystemExit(code)


async def _run(
    graph: GraphConfig,
    mode: PlannerMode | None,
    leave_running: bool,
    interval: float | None,
    metrics_interval: float | None,
    max_decisions: int | None,
    as_json: bool,
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    opening = asyncio.ensure_future(
        open_graph(graph, mode=mode, metrics_interval_s=metrics_interval, planner_interval_s=interval)
    )
    await asyncio.wait({opening, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
    if not opening.done():
        click.echo("stopping: waiting for the graph to finish starting...", err=True)
    session = await opening  # opening is never cancelled half-way: the graph would be left half-started
    observing = isinstance(session, GraphObserver)
    if isinstance(session, GraphObserver):
        what = "left running: it is its owner's"
        header = (
            f"planner-tui plan: namespace {graph.namespace} is owned by {session.owner.describe()}; "
            "observing read-only (the owner's decisions below); Ctrl-C detaches, the graph keeps running"
        )
    else:
        what = "left running" if leave_running else "stopped"
        header = (
            f"planner-tui plan: namespace {graph.namespace}, mode {session.mode.value}, "
            f"policy {graph.planner.policy.value}, every {seconds(session.runner.interval_s)}; "
            f"audit log {audit_path_for(graph)}; Ctrl-C stops (the graph is {what})"
        )
    click.echo(header, err=True)
    events = session.subscribe()
    made = 0
    code = 0
    try:
        async for event in events_until(events, stop):
            if isinstance(event, DecisionMade):
                decision = event.decision
                if as_json:
                    click.echo(json.dumps(decision_to_dict(decision), separators=(",", ":")))
                else:
                    stamp = _dt.datetime.fromtimestamp(decision.timestamp).strftime("%H:%M:%S")
                    click.echo(f"{stamp} {summary_line(decision)}")
                made += 1
                if max_decisions is not None and made >= max_decisions:
                    break
            elif isinstance(event, SessionError):
                click.echo(f"error: {event.message}", err=True)
                if isinstance(session, GraphObserver) and session.disconnected.is_set():
                    break  # the owner is gone: run plan again to take the graph over
            elif not observing and isinstance(event, SnapshotReady) and (failures := failed_components(event.snapshot)):
                for failure in failures:
                    click.echo(f"planner-tui plan: {failure.message}", err=True)
                code = EXIT_COMPONENT_FAILED
                break
    finally:
        click.echo(f"stopping: the graph is {what}...", err=True)
        with contextlib.suppress(Exception):
            await session.close(stop_graph=not leave_running and not observing)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        sys.stdout.flush()
    return code
