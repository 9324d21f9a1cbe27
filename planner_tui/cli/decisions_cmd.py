"""``planner-tui decisions``: print the planner's audit log, optionally following it.

Lines that cannot be read (torn by a crash, or records whose fields are not a record's) are skipped,
and counted on stderr: ``skipped 2 unreadable lines in FILE``.
"""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path
from typing import Any

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.config import demo_graph_path, load_graph
from planner_tui.planner.audit import (
    INTENT,
    SkippedLines,
    audit_path_for,
    default_audit_path,
    follow_records,
    read_records,
    record_key,
    record_time,
)

#: after the summary of a decision whose outcome was never recorded (the planner stopped while applying)
NO_OUTCOME = " [outcome not recorded: the planner stopped while applying it]"


def _line(record: dict[str, Any], as_json: bool) -> str:
    """One record as printed (the reader has checked its timestamp and summary)."""
    if as_json:
        return json.dumps(record, separators=(",", ":"))
    mark = NO_OUTCOME if record.get("phase") == INTENT else ""
    return f"{record_time(record)} {record.get('summary', '')}{mark}"


def _report_skip(file: Path, reason: str) -> None:
    click.echo(f"skipped 1 unreadable line in {file}: {reason}", err=True)


@click.command("decisions")
@click.option("--graph", "graph_file", type=click.Path(dir_okay=False), help="graph file whose audit log to read")
@click.option("--namespace", "-n", help="namespace whose audit log to read (default: the graph's, else the demo's)")
@click.option("--file", "audit_file", type=click.Path(dir_okay=False), help="read this audit log file")
@click.option("--last", type=click.IntRange(min=0), default=None, metavar="N", help="only the last N decisions")
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
    skipped = SkippedLines()
    try:
        read_up_to = path.stat().st_size  # before reading: what is appended later is followed
    except OSError:
        read_up_to = 0
    try:
        records: deque[dict[str, Any]] | list[dict[str, Any]]
        records = (
            deque(read_records(path, skipped), maxlen=last) if last is not None else list(read_records(path, skipped))
        )
    except OSError as exc:
        raise click.ClickException(f"cannot read the audit log {path}: {exc.strerror or exc}") from None
    for message in skipped.messages():
        click.echo(message, err=True)
    if not records and not follow:
        click.echo(f"no decisions recorded yet in {path}", err=True)
        return
    for record in records:
        click.echo(_line(record, as_json))
    if follow:
        after = record_key(records[-1]) if records else float("-inf")
        try:
            for record in follow_records(
                path, after=after, skipped=SkippedLines(on_skip=_report_skip), read_up_to=read_up_to
            ):
                click.echo(_line(record, as_json))
        except KeyboardInterrupt:
            pass
