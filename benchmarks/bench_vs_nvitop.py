"""planner-tui's GPU view against nvitop, side by side: launch -> first GPU row, CPU, peak RSS.

    python benchmarks/bench_vs_nvitop.py [--runs 3] [--seconds 20] [--cache-dir DIR]

Both run over the same fake 8-GPU NVML library (``tests/metrics/fake_nvml.c``, found through
``LD_LIBRARY_PATH`` by both) in tmux at 120x40 with a 1 s refresh, alternating, ``--runs`` times each.
planner-tui watches a local graph of 8 idle replicas (``sleep``, one GPU each, planner paused); the
graph is started once before the runs and each planner-tui run attaches to it, as a person reopening
the dashboard does. The 8 replicas' pids are the GPU processes both tools show (same GPUs, same
processes).

Per run: launch -> first GPU row (the GPU 7 row with its utilisation, found by reading the pane every
5 ms through one tmux control-mode client, so up to ~5 ms late for both; a ``tmux capture-pane``
process per look would itself take a good part of a core from the tools on a small machine), CPU as % of one core over
``--seconds`` after a settling pause (planner-tui's figure includes its circusd's, reported apart
too), and peak RSS (VmHWM). Prints min/median/max and the ratios planner-tui / nvitop.

nvitop is installed with pip into a venv under the cache directory (default
``~/.cache/planner-tui-bench``), outside the repository; the fake library is built there with gcc.
Both start from compiled bytecode, as installed packages do: pip compiled nvitop's at install, and
planner-tui's is compiled here first (``compileall``: an editable checkout run with
``PYTHONDONTWRITEBYTECODE`` set would otherwise compile ~200 modules from source at every launch).
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
FAKE_NVML_SOURCE = REPO / "tests" / "metrics" / "fake_nvml.c"
NVITOP_VERSION = "1.7.2"
GPUS = 8
SIZE = (120, 40)
TMUX_SOCKET = "planner-tui-bench"
SESSION = "bench"
#: the last GPU's row with its utilisation (the fake library gives GPU 7 80%), as both tools draw it
FIRST_ROW = re.compile(r"^│\s+7\s.*\b80%", re.MULTILINE)
SETTLE_S = 3.0

GRAPH = """\
namespace = "{namespace}"
[resources]
gpus = [0, 1, 2, 3, 4, 5, 6, 7]
[planner]
mode = "paused"
[metrics]
interval_s = 1.0
[components.worker]
role = "decode"
command = "sleep"
args = ["1000000"]
gpus_per_replica = 1
min_replicas = 8
max_replicas = 8
"""


@dataclass
class Run:
    """One run of one tool."""

    first_row_s: float | None
    cpu_pct: float  # of one core, the tool and (planner-tui) its circusd
    circusd_cpu_pct: float | None
    peak_rss_mib: float
    circusd_rss_mib: float | None = None


@dataclass
class Tool:
    """A tool under test: how to start it and what it has measured."""

    name: str
    command: list[str]
    runs: list[Run] = field(default_factory=list)


def tmux(*args: str, check: bool = True) -> str:
    result = subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def build_nvml(cache: Path) -> Path:
    """The fake libnvidia-ml.so.1 in ``cache/nvml`` (rebuilt when the source is newer)."""
    out = cache / "nvml" / "libnvidia-ml.so.1"
    if not out.exists() or out.stat().st_mtime < FAKE_NVML_SOURCE.stat().st_mtime:
        gcc = shutil.which("gcc")
        if gcc is None:
            raise SystemExit("gcc is needed to build the fake NVML library (apt-get install gcc)")
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(out), str(FAKE_NVML_SOURCE)], check=True)
    return out.parent


def install_nvitop(cache: Path) -> Path:
    """nvitop in a venv of its own under ``cache`` (pip, once)."""
    venv = cache / f"nvitop-{NVITOP_VERSION}"
    exe = venv / "bin" / "nvitop"
    if not exe.exists():
        print(f"installing nvitop {NVITOP_VERSION} into {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"nvitop=={NVITOP_VERSION}"], check=True)
    return exe


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def circusd_pid(state_dir: Path, namespace: str) -> int | None:
    path = state_dir / "local" / f"{namespace}.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    circusd = data.get("circusd") or {}
    return circusd.get("pid")


def replica_pids(state_dir: Path, namespace: str) -> list[int]:
    data = json.loads((state_dir / "local" / f"{namespace}.json").read_text())
    return sorted(r["pid"] for r in data["replicas"].values() if r.get("pid"))


def launch(command: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Start ``command`` in a fresh 120x40 tmux session; (start time, the tool's pid, its pane's id)."""
    tmux("kill-session", "-t", SESSION, check=False)
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    line = f"exec env {exports} {shlex.join(command)}"
    started = time.perf_counter()
    size = ["-x", str(SIZE[0]), "-y", str(SIZE[1])]
    pane_id, pane_pid = tmux(
        "new-session", "-d", "-P", "-F", "#{pane_id} #{pane_pid}", "-s", SESSION, *size, line
    ).split()
    return started, int(pane_pid), pane_id


class PaneReader:
    """Reads the bench session's pane through one tmux control-mode client: a command per look, no
    process started per look."""

    def __init__(self) -> None:
        tmux("new-session", "-d", "-s", "reader", "-x", "80", "-y", "24", "sleep 1000000")
        self._client = subprocess.Popen(
            ["tmux", "-L", TMUX_SOCKET, "-C", "attach", "-t", "reader"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._ask("display-message -p ready", until="ready")

    def _ask(self, command: str, until: str | None = None) -> str:
        """Send ``command``; its output block (the first whose body is ``until``, when given)."""
        assert self._client.stdin is not None and self._client.stdout is not None
        self._client.stdin.write(command.encode() + b"\n")
        self._client.stdin.flush()
        while True:
            body: list[str] | None = None
            for raw in iter(self._client.stdout.readline, b""):
                line = raw.decode(errors="replace").rstrip("\n")
                if body is None:
                    if line.startswith("%begin"):
                        body = []
                elif line.startswith(("%end", "%error")):
                    break
                else:
                    body.append(line)
            else:
                raise RuntimeError("the tmux control client ended")
            text = "\n".join(body or [])
            if until is None or text == until:
                return text

    def screen(self, pane: str) -> str:
        """Pane ``pane`` (its id, ``%N``: a name could still find a pane of the session just killed)."""
        return self._ask(f"capture-pane -p -t {pane}")

    def close(self) -> None:
        if self._client.stdin is not None:
            self._client.stdin.close()
        self._client.wait(10)


def wait_for_row(reader: PaneReader, pane: str, started: float, timeout: float = 30.0) -> float | None:
    while time.perf_counter() - started < timeout:
        if FIRST_ROW.search(reader.screen(pane)):
            return time.perf_counter() - started
        time.sleep(0.005)
    return None


def measure(tool: Tool, env: dict[str, str], seconds: float, circusd: int | None, reader: PaneReader) -> Run:
    started, pid, pane = launch(tool.command, env)
    first = wait_for_row(reader, pane, started)
    if first is None:
        screen = tmux("capture-pane", "-p", "-t", SESSION, check=False)
        tmux("kill-session", "-t", SESSION, check=False)
        raise SystemExit(f"{tool.name}: no GPU row within 30 s; the screen was:\n{screen}")
    time.sleep(SETTLE_S)
    process = psutil.Process(pid)
    daemon = psutil.Process(circusd) if circusd else None
    cpu0, wall0 = cpu_seconds(process), time.perf_counter()
    daemon0 = cpu_seconds(daemon) if daemon else 0.0
    time.sleep(seconds)
    wall = time.perf_counter() - wall0
    cpu = (cpu_seconds(process) - cpu0) / wall * 100
    daemon_cpu = (cpu_seconds(daemon) - daemon0) / wall * 100 if daemon else None
    rss = peak_rss_mib(pid)
    daemon_rss = peak_rss_mib(daemon.pid) if daemon else None
    tmux("kill-session", "-t", SESSION, check=False)
    try:
        process.wait(10)
    except psutil.TimeoutExpired:
        process.kill()
    return Run(first, cpu + (daemon_cpu or 0.0), daemon_cpu, rss, daemon_rss)


def spread(values: list[float]) -> str:
    return f"{min(values):7.2f} {statistics.median(values):7.2f} {max(values):7.2f}"


def report(tools: list[Tool]) -> None:
    nvitop, ours = tools
    print(f"\n{'':42}{'min':>8}{'median':>8}{'max':>8}")
    rows = [
        ("launch -> first GPU row (s)", lambda r: r.first_row_s or float("nan")),
        ("CPU, % of one core", lambda r: r.cpu_pct),
        ("peak RSS (MiB)", lambda r: r.peak_rss_mib),
    ]
    for label, get in rows:
        for tool in tools:
            print(f"{tool.name + ': ' + label:<42}{spread([get(r) for r in tool.runs])}")
        ratio = statistics.median(get(r) for r in ours.runs) / statistics.median(get(r) for r in nvitop.runs)
        print(f"{'  ratio planner-tui / nvitop':<42}{ratio:>15.2f}")
    circus_cpu = [r.circusd_cpu_pct for r in ours.runs if r.circusd_cpu_pct is not None]
    circus_rss = [r.circusd_rss_mib for r in ours.runs if r.circusd_rss_mib is not None]
    if circus_cpu:
        print(f"{'  of which circusd CPU %':<42}{spread(circus_cpu)}")
    if circus_rss:
        print(f"{'  circusd peak RSS (MiB, apart)':<42}{spread(circus_rss)}")


@dataclass
class BenchGraph:
    """The benchmark's running graph: its file, the environment every tool runs with, its circusd."""

    graph: Path
    env: dict[str, str]
    circusd: int | None


@contextlib.contextmanager
def running_graph(nvml_dir: Path, prefix: str) -> Iterator[BenchGraph]:
    """The 8-replica graph (``GRAPH``) started once by a dashboard run in tmux, in a scratch state
    directory, over the fake NVML library whose processes are the 8 replicas; stopped (circusd and its
    replicas) and removed at the end, as is the tmux server."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    namespace = f"benchgpu{os.getpid()}"
    state, runtime = work / "state", work / "run"
    state.mkdir(mode=0o700)
    runtime.mkdir(mode=0o700)
    graph = work / "graph.toml"
    graph.write_text(GRAPH.format(namespace=namespace))
    env = {
        "LD_LIBRARY_PATH": str(nvml_dir),
        "FAKE_NVML_GPU_COUNT": str(GPUS),
        "PLANNER_TUI_STATE_DIR": str(state),
        "XDG_RUNTIME_DIR": str(runtime),
        "PYTHONPATH": str(REPO),
        "HOME": os.environ.get("HOME", str(work)),
        "TERM": "xterm-256color",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    try:
        # start the graph once (the dashboard's first run), then every run attaches to it
        launch([sys.executable, "-m", "planner_tui", "--graph", str(graph)], env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if len(replica_pids(state, namespace)) == GPUS:
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        else:
            raise SystemExit("the graph's 8 replicas did not start within 60 s:\n" + tmux("capture-pane", "-p"))
        tmux("kill-session", "-t", SESSION, check=False)
        time.sleep(1.0)
        pids = replica_pids(state, namespace)
        env["FAKE_NVML_PROCESSES"] = ";".join(f"{i}:{pid}:{1024 * (i + 1)}:{5 * i}" for i, pid in enumerate(pids))
        daemon = circusd_pid(state, namespace)
        load = os.getloadavg()[0]
        print(f"graph {namespace}: 8 replicas {pids}, circusd {daemon}; load average {load:.2f}", flush=True)
        yield BenchGraph(graph, env, daemon)
    finally:
        tmux("kill-server", check=False)
        daemon = circusd_pid(state, namespace)
        if daemon is not None:
            try:
                circus = psutil.Process(daemon)
                circus.terminate()  # stops the replicas with it
                circus.wait(20)
            except psutil.Error:
                pass
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each tool, alternating (at least 3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="CPU measurement window per run")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "planner-tui-bench")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        raise SystemExit("tmux is needed (apt-get install tmux)")
    cache = args.cache_dir.expanduser().absolute()
    compileall.compile_dir(str(REPO / "planner_tui"), quiet=1)  # as an install does (see the docstring)
    nvml_dir = build_nvml(cache)
    nvitop = install_nvitop(cache)
    ours = Tool("planner-tui", [])
    theirs = Tool("nvitop", [str(nvitop), "--interval", "1"])
    with running_graph(nvml_dir, "bench-vs-nvitop-") as bench:
        env, daemon = bench.env, bench.circusd
        ours.command = [sys.executable, "-m", "planner_tui", "--graph", str(bench.graph)]
        reader = PaneReader()
        for index in range(args.runs):
            for tool in (theirs, ours):
                run = measure(tool, env, args.seconds, daemon if tool is ours else None, reader)
                tool.runs.append(run)
                extra = "" if run.circusd_cpu_pct is None else f" (circusd {run.circusd_cpu_pct:.2f})"
                print(
                    f"run {index + 1} {tool.name:<12} first row {run.first_row_s:.3f} s  CPU {run.cpu_pct:.2f}%{extra}"
                    f"  peak RSS {run.peak_rss_mib:.1f} MiB",
                    flush=True,
                )
        report([theirs, ours])
        load = os.getloadavg()[0]
        print(f"\nmachine: {os.cpu_count()} CPUs, load average now {load:.2f} (shared machines are noisy)")


if __name__ == "__main__":
    main()
