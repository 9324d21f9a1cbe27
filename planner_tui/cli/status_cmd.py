"""``planner-tui status``: one Snapshot of a running graph, as JSON (for scripts) or a short summary."""

from __future__ import annotations

import asyncio
import contextlib

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.config import GraphConfig, demo_graph_path, load_graph
from planner_tui.connectors.errors import ConnectorError
from planner_tui.model.snapshot import Snapshot

EXIT_NO_GRAPH = 1


async def collect_snapshot(namespace: str, graph: GraphConfig | None, samples: int) -> Snapshot:
    """Attach to the running graph of ``namespace`` and collect ``samples`` ticks; return the last."""
    from planner_tui.connectors.local import LocalConnector
    from planner_tui.metrics.collector import Collector

    connector = await LocalConnector.attach(namespace)
    try:
        collector = Collector(connector, graph or connector.graph)
        try:
            snapshot = await collector.collect_once()
            for _ in range(samples - 1):  # rates and latency windows need more than one reading
                await asyncio.sleep(collector.interval_s)
                snapshot = await collector.collect_once()
            return snapshot
        finally:
            await collector.stop()
    finally:
        with contextlib.suppress(ConnectorError):
            await connector.shutdown(stop_graph=False)


def _format(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3g}"


def summary_lines(snapshot: Snapshot) -> list[str]:
    """A few lines a person reads: components with their signals, GPUs, problems."""
    lines = [f"namespace {snapshot.namespace}"]
    for name, state in snapshot.components.items():
        values = " ".join(
            f"{v.signal.value}={_format(v.value)}{'(stale)' if v.stale else ''}"
            for v in snapshot.signals
            if v.component == name
        )
        lines.append(f"  {name:<12} {state.ready_replicas}/{state.desired_replicas} ready  {values}".rstrip())
    for gpu in snapshot.gpus:
        label = "simulated " if gpu.simulated else ""
        holders = ",".join(gpu.holders) or "-"
        lines.append(
            f"  {label}GPU {gpu.index}: util {_format(gpu.utilization_pct)}% "
            f"mem {_format(gpu.memory_used_mib)}/{_format(gpu.memory_total_mib)} MiB  {holders}"
        )
    if snapshot.gpu_status:
        lines.append(f"  {snapshot.gpu_status}")
    lines.extend(f"  ! {error}" for error in snapshot.errors)
    return lines


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the whole Snapshot as JSON.")
@click.option("--namespace", "-n", help="Namespace of the running graph (default: the demo's).")
@click.option(
    "--graph",
    "graph_file",
    type=click.Path(exists=True, dir_okay=False),
    help="Graph file of the running graph (its namespace, metrics settings and signal overrides).",
)
@click.option(
    "--samples",
    type=click.IntRange(1, 20),
    default=2,
    show_default=True,
    help="Collector ticks to take; rates need two.",
)
@report_config_errors
def status(as_json: bool, namespace: str | None, graph_file: str | None, samples: int) -> None:
    """Print one Snapshot of a running graph (attaches without changing anything)."""
    if namespace and graph_file:
        raise click.UsageError("give --namespace or --graph, not both")
    graph = load_graph(graph_file) if graph_file else None
    if namespace is None:
        namespace = graph.namespace if graph is not None else load_graph(demo_graph_path()).namespace
    try:
        snapshot = asyncio.run(collect_snapshot(namespace, graph, samples))
    except ConnectorError as exc:
        click.echo(f"planner-tui status: {exc}", err=True)
        raise SystemExit(EXIT_NO_GRAPH) from None
    if as_json:
        from planner_tui.metrics.snapshot_json import snapshot_to_json

        click.echo(snapshot_to_json(snapshot))
    else:
        click.echo("\n".join(summary_lines(snapshot)))
