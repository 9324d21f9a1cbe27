"""Faults around ownership: two planners started together, a planner killed mid scale-up and a new
one taking over. Each asserts one circusd per graph, only the owner stops the graph, every applied
decision is audited, and no process is left behind."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from pathlib import Path

import psutil

from planner_tui.connectors.local.circusd import CIRCUSD_MODULE
from planner_tui.planner.audit import default_audit_path
from tests.cli.test_plan_cmd import Lines, start_plan, write_graph
from tests.connectors.local.conftest import alive, kill_leftovers, recorded_pids
from tests.runtime.conftest import LoadFile


def circusds_of(state_root: Path) -> list[psutil.Process]:
    """circusd processes whose config lives under ``state_root``."""
    out = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if CIRCUSD_MODULE in cmdline and any(str(state_root) in part for part in cmdline):
            out.append(proc)
    return out


class StderrLines(Lines):
    """Lines, over the process's stderr."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stderr is not None
        stream = proc.stderr
        threading.Thread(target=lambda: [self.queue.put(line) for line in stream], daemon=True).start()


def applied_records(namespace: str) -> list[dict[str, object]]:
    path = default_audit_path(namespace)
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return records


def test_two_planners_started_together_give_one_owner(tmp_path: Path, isolated_dirs: Path) -> None:
    load = LoadFile(tmp_path / "load.json")
    load.set("decode", kv=0.6)
    graph = write_graph(tmp_path, "two-plans", load)
    root = isolated_dirs / "state"
    first, second = start_plan(graph), start_plan(graph)
    procs = [first, second]
    try:
        errs = {p.pid: StderrLines(p) for p in procs}
        outs = {p.pid: Lines(p) for p in procs}
        headers = {p.pid: errs[p.pid].wait_for("planner-tui plan: namespace two-plans", 60) for p in procs}
        owners = [p for p in procs if "is owned by" not in headers[p.pid]]
        observers = [p for p in procs if "is owned by" in headers[p.pid]]
        assert len(owners) == 1 and len(observers) == 1, headers
        owner, observer = owners[0], observers[0]
        assert f"owned by pid {owner.pid} on " in headers[observer.pid]
        # both see the owner's decisions; only one circusd runs the graph
        outs[owner.pid].wait_for("| current: prefill=1 decode=1")
        outs[observer.pid].wait_for("| current: prefill=1 decode=1")
        assert len(circusds_of(root)) == 1
        pids = recorded_pids(root)
        # Ctrl-C of the observer leaves the owner's graph running
        observer.send_signal(signal.SIGINT)
        assert observer.wait(timeout=30) == 0
        assert all(alive(p, t) for p, t in pids)
        load.set("decode", kv=0.95)
        outs[owner.pid].wait_for("SCALE_UP")
        # Ctrl-C of the owner stops the graph: nothing is left
        owner.send_signal(signal.SIGINT)
        assert owner.wait(timeout=60) == 0
        assert not any(alive(p, t) for p, t in recorded_pids(root) + pids)
        assert circusds_of(root) == []
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        kill_leftovers(recorded_pids(root))


def test_a_planner_killed_mid_scale_up_is_taken_over(tmp_path: Path, isolated_dirs: Path) -> None:
    load = LoadFile(tmp_path / "load.json")
    load.set("decode", kv=0.97)
    graph = write_graph(tmp_path, "kill-plan", load)
    root = isolated_dirs / "state"
    first = start_plan(graph)
    second: subprocess.Popen[str] | None = None
    try:
        Lines(first).wait_for("SCALE_UP", 60)
        first.send_signal(signal.SIGKILL)  # no clean-up at all, maybe mid-change
        first.wait(timeout=30)
        circusd = circusds_of(root)
        assert len(circusd) == 1  # the graph outlives its killed owner
        second = start_plan(graph)
        err = StderrLines(second)
        header = err.wait_for("planner-tui plan: namespace kill-plan", 60)
        assert "is owned by" not in header  # the lease died with the killed owner: this one owns it
        out = Lines(second)
        out.wait_for("decode=", 60)
        assert [p.pid for p in circusds_of(root)] == [circusd[0].pid]  # re-attached, not restarted
        second.send_signal(signal.SIGINT)
        assert second.wait(timeout=60) == 0
        assert not any(alive(p, t) for p, t in recorded_pids(root))
        assert circusds_of(root) == []
        # every decision that was applied is in the audit log with its outcome
        records = applied_records("kill-plan")
        assert records and all("timestamp" in r for r in records)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)
        kill_leftovers(recorded_pids(root))
