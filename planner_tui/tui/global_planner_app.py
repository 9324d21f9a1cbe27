"""The Global Planner's dashboard: managed deployments and replicas, the GPU budget, recent requests.

Read-only: it polls the service's status endpoint (as a viewer) every ``interval`` seconds, one
poll at a time, and changes nothing. ``q`` quits, ``r`` refreshes now.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, ClassVar

import httpx
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Header, Static

from planner_tui.globalplanner.status_client import StatusError, fetch_status, viewer_token


def budget_line(status: dict[str, Any]) -> str:
    """``GPU budget: 5 of 6 used`` (or ``unlimited``), the mode, and the request count."""
    used, limit = status.get("gpus_used"), status.get("max_total_gpus", -1)
    budget = f"{used if used is not None else '?'} of {limit} used" if limit >= 0 else f"{used} used (unlimited)"
    mode = " | NO-OPERATION" if status.get("no_operation") else ""
    managed = status.get("managed_namespaces", "all")
    allowed = managed if isinstance(managed, str) else ", ".join(managed)
    return (
        f"{status.get('namespace')} ({status.get('environment')}){mode} | GPU budget: {budget} | "
        f"callers: {allowed} | {status.get('requests', 0)} requests"
    )


def request_row(request: dict[str, Any]) -> tuple[str, ...]:
    """One recent request as a table row: time, caller, deployment, targets, outcome, latency."""
    stamp = request.get("time")
    when = _dt.datetime.fromtimestamp(stamp).strftime("%H:%M:%S") if isinstance(stamp, int | float) else "?"
    targets = " ".join(f"{k}={v}" for k, v in (request.get("targets") or {}).items())
    outcome = str(request.get("status"))
    if request.get("http_status") not in (200, None):
        outcome += f" (HTTP {request.get('http_status')})"
    if request.get("replayed"):
        outcome += " replayed"
    latency = request.get("latency_ms")
    return (
        when,
        str(request.get("caller") or "?"),
        str(request.get("deployment") or "-"),
        targets,
        outcome,
        f"{latency:.0f} ms" if isinstance(latency, int | float) else "?",
        str(request.get("message") or "")[:80],
    )


class GlobalPlannerApp(App[None]):
    """Watches one Global Planner through its status endpoint."""

    TITLE = "planner-tui Global Planner"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("q", "quit", "Quit"), Binding("r", "refresh", "Refresh")]
    CSS = """
    #budget { padding: 0 1; color: $text; background: $boost; }
    #problem { padding: 0 1; color: $error; }
    DataTable { height: 1fr; }
    """

    def __init__(self, address: str, namespace: str, token_file: str | None, interval: float = 2.0) -> None:
        super().__init__()
        self.address = address
        self.namespace = namespace
        self.token_file = token_file
        self.interval = interval
        self.status: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("connecting...", id="budget")
        yield Static("", id="problem")
        yield DataTable(id="deployments", cursor_type="row")
        yield DataTable(id="requests", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = self.address
        self.query_one("#deployments", DataTable).add_columns(
            "deployment", "component", "type", "desired", "ready", "GPUs/replica", "backend", "problems"
        )
        self.query_one("#requests", DataTable).add_columns(
            "time", "caller", "deployment", "targets", "outcome", "latency", "message"
        )
        self.action_refresh()
        self.set_interval(self.interval, self.action_refresh)

    def action_refresh(self) -> None:
        """Poll the status now (a poll still running is not doubled)."""
        self._poll()

    @work(exclusive=True, group="status", exit_on_error=False)
    async def _poll(self) -> None:
        try:
            token = viewer_token(self.token_file)
            async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
                status = await fetch_status(client, self.address, self.namespace, token)
        except StatusError as exc:
            self.query_one("#problem", Static).update(str(exc))
            return
        self.query_one("#problem", Static).update("")
        self.show(status)

    def show(self, status: dict[str, Any]) -> None:
        """Render a status answer."""
        self.status = status
        self.query_one("#budget", Static).update(budget_line(status))
        deployments = self.query_one("#deployments", DataTable)
        deployments.clear()
        for deployment in status.get("deployments", []):
            problems = "; ".join(deployment.get("problems") or [])
            for name, comp in (deployment.get("components") or {}).items():
                deployments.add_row(
                    deployment.get("key", "?"),
                    name,
                    comp.get("sub_component_type") or "-",
                    str(comp.get("desired")),
                    str(comp.get("ready")),
                    str(comp.get("gpus_per_replica")),
                    str(deployment.get("backend", "")),
                    problems,
                )
        requests = self.query_one("#requests", DataTable)
        requests.clear()
        for request in reversed(status.get("recent", [])):
            requests.add_row(*request_row(request))
