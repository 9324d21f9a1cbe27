"""``planner-tui plan``: headless planning, one line per decision, clean Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
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
        assert (
            "SCALE_UP | decode 1->2: KV load 0.95 > 0.90 for 1 interval "
            "[vllm:kv_cache_usage_perc, vllm:num_requests_waiting] | current: prefill=1 decode=2"
        ) in line  # the reason names the series that drove it
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
    graph = write_graph(tmp_path, "plan-leave", load)
    proc = start_plan(graph, "--leave-running", "--advisory", "--decisions", "2", "--interval", str(5 / 6))
    root = isolated_dirs / "state"
    try:
        lines = Lines(proc)
        assert "HOLD (advisory) | " in lines.wait_for("current: prefill=1")
        assert proc.wait(timeout=60) == 0
        assert proc.stderr is not None and "every 0.83 s;" in proc.stderr.read()
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


FAILING = """
namespace = "{namespace}"
[resources]
port_range = [{base}, {last}]
[metrics]
interval_s = 0.25
[planner]
policy = "none"
adjustment_interval_s = 0.5
[components.steady]
role = "other"
command = "{{python}}"
args = ["-c", "import time; time.sleep(120)", "{marker}"]
graceful_timeout_s = 3.0
[components.crashy]
role = "other"
command = "{command}"
args = ["-c", "import sys; print('boom', file=sys.stderr); sys.exit(3)"]
max_crash_restarts = 1
depends_on = ["steady"]
"""


def write_failing_graph(tmp_path: Path, namespace: str, command: str = "{python}") -> tuple[Path, str]:
    base = 40000 + (os.getpid() * 17 + len(namespace) * 40) % 15000
    marker = f"planner-tui-steady-{namespace}-{tmp_path.name}"
    path = tmp_path / "graph.toml"
    path.write_text(FAILING.format(namespace=namespace, base=base, last=base + 9, marker=marker, command=command))
    return path, marker


def processes_mentioning(marker: str) -> list[int]:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            if any(marker in part for part in proc.info["cmdline"] or ()):
                found.append(proc.pid)
    return found


def test_plan_exits_3_naming_the_component_when_every_replica_crashed(tmp_path: Path, isolated_dirs: Path) -> None:
    graph, marker = write_failing_graph(tmp_path, "plan-crash")
    proc = start_plan(graph)
    root = isolated_dirs / "state"
    try:
        assert proc.wait(timeout=60) == 3
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert "Traceback" not in err
        assert (
            "planner-tui plan: component 'crashy' cannot run: every replica failed (crashy-0: exited with code 3; "
            "last stderr: boom; crashed 2 times in a row, max_crash_restarts = 1)" in err
        ), err
        assert "stopping: the graph is stopped" in err
        assert processes_mentioning(marker) == []  # the healthy component was stopped with the graph
        assert recorded_pids(root) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        kill_leftovers(recorded_pids(root))


def test_plan_exits_3_when_the_command_is_gone_at_run_time(tmp_path: Path, isolated_dirs: Path) -> None:
    """The executable passed the start-up check but is missing when the replica starts."""
    from planner_tui.cli.plan_cmd import EXIT_COMPONENT_FAILED, _run
    from planner_tui.config import load_graph

    tool = tmp_path / "tool.sh"
    graph_file, marker = write_failing_graph(tmp_path, "plan-gone", command=str(tool))
    graph = load_graph(graph_file)  # not check_commands: the tool is already gone
    root = isolated_dirs / "state"
    try:
        code = asyncio.run(asyncio.wait_for(_run(graph, None, False, None, None, None, False), timeout=45))
        assert code == EXIT_COMPONENT_FAILED == 3
        assert processes_mentioning(marker) == []
        assert recorded_pids(root) == []
    finally:
        kill_leftovers(recorded_pids(root))


def test_a_component_counts_as_failed_only_when_every_replica_failed() -> None:
    from planner_tui.model.components import ComponentSpec, ComponentState
    from planner_tui.model.replicas import Phase, ReplicaState
    from planner_tui.model.snapshot import Snapshot
    from planner_tui.runtime.failures import failed_components

    def state(name: str, *phases: Phase) -> ComponentState:
        replicas = tuple(ReplicaState(name, i, p, reason=f"r{i}") for i, p in enumerate(phases))
        return ComponentState(ComponentSpec(name, "other"), desired_replicas=len(phases), replicas=replicas)

    snapshot = Snapshot(
        timestamp=0.0,
        namespace="ns",
        components={
            "dead": state("dead", Phase.FAILED, Phase.FAILED),
            "limping": state("limping", Phase.FAILED, Phase.CRASHED),
            "leaving": state("leaving", Phase.FAILED, Phase.STOPPING),
            "empty": state("empty"),
        },
    )
    (failure,) = failed_components(snapshot)
    assert failure.component == "dead"
    assert failure.message == "component 'dead' cannot run: every replica failed (dead-0: r0; dead-1: r1)"


def test_interval_options_refuse_nan_and_inf(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from planner_tui.cli.main import cli

    for option in ("--interval", "--metrics-interval", "--speedup"):
        for value in ("nan", "inf"):
            result = CliRunner().invoke(cli, ["plan", "--graph", str(tmp_path / "absent.toml"), option, value])
            assert result.exit_code == 2, (option, value, result.output)
            assert f"Invalid value for '{option}'" in result.output
