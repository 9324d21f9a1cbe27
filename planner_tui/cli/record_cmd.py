"""``planner-tui record``: write a graph's Snapshots, decisions and frontend workload to a recording.

With the graph's lease free, ``record`` runs the graph and its planner itself (like ``plan``); when a
dashboard or ``plan`` already owns the graph, it records that owner's feed read-only. Ctrl-C, SIGTERM or
``--duration`` ends it; a kill -9 loses at most the last interval (see ``planner_tui.recording.format``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from typing import TYPE_CHECKING

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.cli.plan_cmd import FiniteRange, runnable_graph
from planner_tui.config import GraphConfig
from planner_tui.connectors.errors import ConnectorError
from planner_tui.model.decisions import PlannerMode
from planner_tui.runtime import DecisionMade, GraphObserver, SessionError, SnapshotReady, open_graph
from planner_tui.runtime.events import events_until

if TYPE_CHECKING:
    from planner_tui.recording import RecordingWriter

EXIT_CONNECTOR = 1
EXIT_RECORDING = 2


@click.command("record")
@click.option("--graph", "graph_file", type=click.Path(dir_okay=False), help="graph file (default: the demo)")
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="the recording file (appended to)",
)
@click.option("--duration", type=FiniteRange(min=0.1, max=7 * 86400), help="stop after this many seconds")
@click.option("--advisory", is_flag=True, help="when recording runs the graph: decide, change nothing")
@click.option("--leave-running", is_flag=True, help="when recording runs the graph: leave it running on exit")
@click.option("--speedup", type=FiniteRange(min=0.01, max=1000), help="run a simulated graph this many times faster")
@report_config_errors
def record(
    graph_file: str | None,
    output: str,
    duration: float | None,
    advisory: bool,
    leave_running: bool,
    speedup: float | None,
) -> None:
    """Record a graph: every Snapshot, every decision and the workload at its frontend, per interval.

    Replay it with `planner-tui replay FILE`; evaluate other planner settings on its workload with
    `planner-tui compare --recording FILE`.
    """
    from planner_tui.recording import RecordingError, RecordingWriter

    graph = runnable_graph(graph_file, speedup)
    try:
        writer = RecordingWriter(output)
    except RecordingError as exc:
        click.echo(f"planner-tui record: {exc}", err=True)
        raise SystemExit(EXIT_RECORDING) from None
    mode = PlannerMode.ADVISORY if advisory else None
    try:
        asyncio.run(_run(graph, writer, mode, leave_running, duration))
    except ConnectorError as exc:
        click.echo(f"planner-tui record: {exc}", err=True)
        raise SystemExit(EXIT_CONNECTOR) from None
    finally:
        writer.close()


async def _run(
    graph: GraphConfig,
    writer: RecordingWriter,
    mode: PlannerMode | None,
    leave_running: bool,
    duration: float | None,
) -> None:
    from planner_tui.metrics.scrape import Scraper
    from planner_tui.recording import Recorder

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    session = await open_graph(graph, mode=mode)
    observing = isinstance(session, GraphObserver)
    who = f"observing {session.owner.describe()}" if isinstance(session, GraphObserver) else "running it"
    click.echo(f"planner-tui record: namespace {graph.namespace} ({who}) to {writer.path}; Ctrl-C stops", err=True)
    scraper = Scraper(max_body_bytes=graph.metrics.max_body_bytes, max_series=graph.metrics.max_series)
    recorder = Recorder(
        writer, session.graph, started=time.time(), recorded_by="observer" if observing else "owner", scraper=scraper
    )
    for decision in session.decisions:  # what the owner decided before we attached
        recorder.decision(decision)
    events = session.subscribe()
    started = time.monotonic()
    if duration is not None:
        loop.call_later(duration, stop.set)
    try:
        async for event in events_until(events, stop):
            if isinstance(event, SnapshotReady):
                await recorder.snapshot(event.snapshot)
            elif isinstance(event, DecisionMade):
                recorder.decision(event.decision)
            elif isinstance(event, SessionError):
                click.echo(f"error: {event.message}", err=True)
                if isinstance(session, GraphObserver) and session.disconnected.is_set():
                    break
    finally:
        recorder.close()
        click.echo(
            f"planner-tui record: {recorder.snapshots} snapshots, {recorder.decisions} decisions, "
            f"{recorder.intervals} workload intervals, {writer.bytes_written} bytes in "
            f"{time.monotonic() - started:.0f} s to {writer.path}",
            err=True,
        )
        with contextlib.suppress(Exception):
            await scraper.close()
        with contextlib.suppress(Exception):
            await session.close(stop_graph=not leave_running and not observing)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
