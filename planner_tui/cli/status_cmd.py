"""``planner-tui status``: one Snapshot of a running graph, as JSON (for scripts) or a short summary.

``status`` never changes the graph. While an owner runs the graph (a dashboard or ``plan``), it reads
the owner's latest published Snapshot (:mod:`planner_tui.runtime.publisher`), which takes a few
milliseconds; only when nobody owns the graph does it collect itself, through a connector that only
observes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from typing import Any

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.config import GraphConfig, demo_graph_path, load_graph
from planner_tui.connectors.errors import ConnectorError
from planner_tui.model.imbalance import replica_spread
from planner_tui.model.snapshot import Snapshot
from planner_tui.model.text import number
from planner_tui.runtime.ownership import OwnerInfo, read_owner

EXIT_NO_GRAPH = 1
#: seconds to wait for the owner's feed before collecting without it
FEED_TIMEOUT_S = 2.0


def read_owner_snapshot(owner: OwnerInfo, timeout: float = FEED_TIMEOUT_S) -> dict[str, Any] | None:
    """The owner's latest Snapshot (its JSON form) from its feed; None when it has none to give."""
    if not owner.socket:
        return None
    latest: dict[str, Any] | None = None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(owner.socket)
        with sock.makefile("rb") as stream:
            for line in stream:
                message = json.loads(line)
                kind = message.get("type") if isinstance(message, dict) else None
                if kind == "snapshot":
                    latest = message.get("data")
                elif kind == "synced":
                    break
    return latest


async def collect_snapshot(namespace: str, graph: GraphConfig | None, samples: int) -> Snapshot:
    """Collect ``samples`` ticks of the running graph of ``namespace`` without changing it; return the last."""
    from planner_tui.connectors.factory import observe_graph
    from planner_tui.metrics.collector import Collector

    connector, config = await observe_graph(namespace, graph)
    try:
        collector = Collector(connector, config)
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


def summary_lines(snapshot: Snapshot, owner: OwnerInfo | None = None) -> list[str]:
    """A few lines a person reads: the owner, components with their signals and replicas' reasons, GPUs, problems."""
    lines = [f"namespace {snapshot.namespace}"]
    lines.append(f"  owner: {owner.describe()}" if owner else "  owner: none (nobody plans this graph now)")
    for name, state in snapshot.components.items():
        values = " ".join(
            f"{v.signal.value}={number(v.value)}{v.marks()}" for v in snapshot.signals if v.component == name
        )
        lines.append(f"  {name:<12} {state.ready_replicas}/{state.desired_replicas} ready  {values}".rstrip())
        spread = replica_spread(snapshot, name)
        if spread is not None and spread.count > 1:  # the mean hides a full replica: show the max and spread
            lines.append(f"    {spread.describe()}")
        lines.extend(
            f"    {replica.name} {replica.phase.value}: {replica.reason}"
            for replica in state.replicas
            if replica.reason
        )
    for gpu in snapshot.gpus:
        label = "simulated " if gpu.simulated else ""
        holders = ",".join(gpu.holders) or "-"
        lines.append(
            f"  {label}GPU {gpu.index}: util {number(gpu.utilization_pct)}% "
            f"mem {number(gpu.memory_used_mib)}/{number(gpu.memory_total_mib)} MiB  {holders}"
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
    """Print one Snapshot of a running graph (never changes it: the owner's latest, else collected read-only)."""
    if namespace and graph_file:
        raise click.UsageError("give --namespace or --graph, not both")
    graph = load_graph(graph_file) if graph_file else None
    if namespace is None:
        namespace = graph.namespace if graph is not None else load_graph(demo_graph_path()).namespace
    from planner_tui.metrics.snapshot_json import snapshot_from_dict, snapshot_to_dict

    owner = read_owner(namespace)
    data: dict[str, Any] | None = None
    if owner is not None:
        try:
            data = read_owner_snapshot(owner)
        except (OSError, ValueError) as exc:
            click.echo(
                f"planner-tui status: the owner's feed ({owner.socket}) did not answer ({exc}); collecting", err=True
            )
    if data is None:
        try:
            data = snapshot_to_dict(asyncio.run(collect_snapshot(namespace, graph, samples)))
        except ConnectorError as exc:
            click.echo(f"planner-tui status: {exc}", err=True)
            raise SystemExit(EXIT_NO_GRAPH) from None
    if as_json:
        owner_data = None if owner is None else _owner_data(owner)
        click.echo(json.dumps({**data, "owner": owner_data}, indent=2, allow_nan=False))
    else:
        click.echo("\n".join(summary_lines(snapshot_from_dict(data), owner)))


def _owner_data(owner: OwnerInfo) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(owner)
