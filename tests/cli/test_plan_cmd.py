"""``planner-tui plan``: headless planning, one line per decision, clean Ctrl-C."""

from __future__ import annotations

import asyncio
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from planner_tui.connectors.local import LocalConnector
from tests.connectors.local.conftest import alive, kill_leftovers, recorded_pids
from tests.runtime.conftest import WORKER, LoadFile

GRAPH = """
namespace = "{namespace}"
[resources]
gpus = [0, 1, 2, 3]
port_range = [{base}, {last}]
[metrics]
interval_s = 0.25
[planner]
adjustment_interval_s = 0.5
scale_down_stabilization_s = 0
{components}
"""

COMPONENT = """
[components.{name}]
role = "{name}"
command = "{{python}}"
args = ["{worker}", "--port", "{{port}}", "--load-file", "{load}", "--component", "{{component}}"]
gpus_per_replica = 1
min_replicas = 1
max_replicas = 3
health_url = "http://127.0.0.1:{{port}}/health"
metrics_url = "http://127.0.0.1:{{port}}/metrics"
graceful_timeout_s = 3.0
"""


def write_graph(tmp_path: Path, namespace: str, load: LoadFile) -> Path:
    base = 40000 + (os.getpid() * 13 + len(namespace) * 40) % 15000
    comps = "".join(COMPONENT.format(name=n, worker=WORKER, load=load.path) for n in ("prefill", "decode"))
    path = tmp_path / "graph.toml"
    path.write_text(GRAPH.format(namespace=namespace, base=base, last=base + 39, components=comps))
    return path


class Lines:
    """A process's stdout lines, read in a thread, with deadlines."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=lambda: [self.queue.put(line) for line in stdout], daemon=True).start()

    def wait_for(self, text: str, timeout: float = 40.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"no line with {text!r} within {timeout} s; saw: {self.seen[-5:]}")


def start_plan(graph: Path, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "planner_tui", "plan", "--graph", str(graph), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_plan_prints_decisions_and_ctrl_c_stops_the_graph(tmp_path: Path, isolated_dirs: Path) -> None:
    load = LoadFile(tmp_path / "load.json")
    load.set("prefill", waiting=1.0)
    load.set("decode", kv=0.6)
    proc = start_plan(write_graph(tmp_path, "plan-stop", load))
    root = isolated_dirs / "state"
    try:
        lines = Lines(proc)
        assert "HOLD | " in lines.wait_for("| current: prefill=1 decode=1")
        load.set("decode", kv=0.95)
        line = lines.wait_for("SCALE_UP")
        assert "SCALE_UP | decode 1->2: KV load 0.95 > 0.90 for 1 interval | current: prefill=1 decode=2" in line
        pids = recorded_pids(root)
        assert pids and all(alive(p, t) for p, t in pids)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        assert proc.stderr is not None and "stopping: the graph is stopped" in proc.stderr.read()
        assert not any(alive(p, t) for p, t in pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        kill_leftovers(recorded_pids(root))


def test_plan_leave_running_keeps_the_graph_for_a_later_attach(tmp_path: Path, isolated_dirs: Path) -> None:
    load = LoadFile(tmp_path / "load.json")
    proc = start_plan(write_graph(tmp_path, "plan-leave", load), "--leave-running", "--advisory", "--decisions", "2")
    root = isolated_dirs / "state"
    try:
        lines = Lines(proc)
        assert "HOLD (advisory) | " in lines.wait_for("current: prefill=1")
        assert proc.wait(timeout=60) == 0
        pids = recorded_pids(root)
        assert pids and all(alive(p, t) for p, t in pids)

        async def stop() -> None:
            connector = await LocalConnector.attach("plan-leave")
            await connector.shutdown(stop_graph=True)

        asyncio.run(stop())
        assert not any(alive(p, t) for p, t in pids)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        kill_leftovers(recorded_pids(root))


def test_speedup_on_a_graph_that_is_not_simulated_is_a_usage_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from planner_tui.cli.main import cli

    graph = write_graph(tmp_path, "plan-speed", LoadFile(tmp_path / "load.json"))
    result = CliRunner().invoke(cli, ["plan", "--graph", str(graph), "--speedup", "4"])
    assert result.exit_code == 2
    assert "--speedup only applies to simulated graphs" in result.output
