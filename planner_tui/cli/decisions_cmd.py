"""``planner-tui decisions``: print the planner's audit log, optionally following it."""

from __future__ import annotations

import datetime as _dt
import json
from collections import deque
from pathlib import Path
from typing import Any

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.config import demo_graph_path, load_graph
from planner_tui.planner.audit import audit_path_for, default_audit_path, follow_records, read_records


def _line(record: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json.dumps(record, separators=(",", ":"))
    stamp = _dt.datetime.fromtimestamp(float(record.get("timestamp", 0))).strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} {record.get('summary', '')}"


@click.command("decisions")
@click.option("--graph", "graph_file", type=click.Path(dir_okay=False), help="graph file whose audit log to read")
@click.option("--namespace", help="namespace whose audit log to read (default: the graph's, else the demo's)")
@click.option("--file", "audit_file", type=click.Path(dir_okay=False), help="read this audit log file")
@click.option("-n", "--last", type=click.IntRange(min=0), default=None, help="only the last N decisions")
@click.option("--follow", "-f", is_flag=True, help="keep printing new decisions as they are made (Ctrl-C stops)")
@click.option("--json", "as_json", is_flag=True, help="print the JSON records instead of summary lines")
@report_config_errors
def decisions(
    graph_file: str | None,
    namespace: str | None,
    audit_file: str | None,
    last: int | None,
    follow: bool,
    as_json: bool,
) -> None:
    """Print the planner's decisions (one summary line each) from the audit log."""
    if sum(x is not None for x in (graph_file, namespace, audit_file)) > 1:
        raise click.UsageError("give at most one of --graph, --namespace and --file")
    if audit_file:
        path = Path(audit_file)
    elif namespace:
        path = default_audit_path(namespace)
    else:
        path = audit_path_for(load_graph(graph_file or demo_graph_path()))
    records: deque[dict[str, Any]] | list[dict[str, Any]]
    records = deque(read_records(path), maxlen=last) if last is not None else list(read_records(path))
    if not records and not follow:
        click.echo(f"no decisions recorded yet in {path}", err=True)
        return
    for record in records:
        click.echo(_line(record, as_json))
    if follow:
        try:
            after = float(records[-1].get("timestamp", 0.0)) if records else float("-inf")
            for record in follow_records(path, after=after):
                click.echo(_line(record, as_json))
        except KeyboardInterrupt:
            pass
