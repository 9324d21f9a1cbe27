"""Dashboard cost in a real terminal (tmux): time to first frame, CPU at a 1 s refresh, and RSS.

    python benchmarks/bench_dashboard.py [--seconds 60] [--skip-demo]

1. ``planner-tui`` (no arguments: the demo graph through the runtime Session): time from process start
   to the first frame with the GPU rows and the three component panels (target 0.5 s; the graph's
   start-up and first collection continue behind it). The demo graph is stopped again with the quit
   dialog (``q``, ``s``). Then the fixture app's first frame (its header drawn in the tmux pane).
2. The fixture app with 8 GPUs and 32 replicas refreshing every second: the process's CPU over
   ``--seconds`` (user + system time / wall time, % of one core) and its RSS at the end.

Needs tmux. State and config go to a temporary folder.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
SIZE = ("120", "40")


def tmux(*args: str, check: bool = True) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=check).stdout


def start(session: str, command: list[str], env: dict[str, str]) -> float:
    """Start ``command`` in a detached tmux session; returns the perf_counter time just before."""
    line = "exec env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items()) + " " + shlex.join(command)
    began = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", SIZE[0], "-y", SIZE[1], line)
    return began


#: the demo's first frame: the last GPU row and the three component panels
DEMO_FRAME = ("│  7 SIM", "─ frontend · frontend", "─ prefill · prefill", "─ decode · decode")


def wait_for(session: str, marker: str | tuple[str, ...], timeout: float = 30.0) -> float:
    """Poll the pane every 10 ms (sparingly: polling competes for the CPUs) until ``marker`` shows
    (every one of them, for a tuple)."""
    markers = (marker,) if isinstance(marker, str) else marker
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        screen = tmux("capture-pane", "-p", "-t", session, check=False)
        if all(m in screen for m in markers):
            return time.perf_counter()
        time.sleep(0.01)
    raise TimeoutError(f"{marker!r} did not appear in {timeout:.0f} s:\n" + tmux("capture-pane", "-p", "-t", session))


def pane_process(session: str) -> psutil.Process:
    return psutil.Process(int(tmux("display", "-p", "-t", session, "#{pane_pid}").strip()))


def stop(session: str, process: psutil.Process | None, quit_via_dialog: bool = False) -> None:
    """Quit through the quit dialog ("q", then "s" to stop the graph) and wait up to 60 s for the
    process to exit; then make sure the tmux session is gone."""
    if quit_via_dialog and process is not None:
        try:
            tmux("send-keys", "-t", session, "q")
            wait_for(session, "Quit planner-tui", timeout=15)
            tmux("send-keys", "-t", session, "s")
            process.wait(60)
        except (TimeoutError, psutil.TimeoutExpired) as exc:
            print(f"  (quitting through the dialog failed: {exc}; killing)")
    tmux("kill-session", "-t", session, check=False)


def kill_recorded(state: Path) -> None:
    """Last resort: stop any circusd or replica the local connector's state files still name."""
    for path in state.glob("local/*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        pids = [data.get("circusd", {}).get("pid")] + [r.get("pid") for r in (data.get("replicas") or {}).values()]
        for pid in pids:
            if pid and psutil.pid_exists(pid):
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()


def first_frames(
    command: list[str], env: dict[str, str], runs: int, quit_via_dialog: bool, frame: str | tuple[str, ...] = "ns demo"
) -> list[float]:
    samples = []
    for run in range(runs):
        session = f"pt-bench-{os.getpid()}-{run}"
        began = start(session, command, env)
        try:
            shown = wait_for(session, frame)
            samples.append(shown - began)
            time.sleep(0.5)
            process = pane_process(session)
        finally:
            stop(session, locals().get("process"), quit_via_dialog)
    return samples


def import_cost(code: str, runs: int = 5) -> float:
    """Median wall time of ``python -c code`` (seconds)."""
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0, help="CPU measurement window")
    parser.add_argument("--runs", type=int, default=3, help="first-frame runs per command")
    parser.add_argument("--skip-demo", action="store_true", help="do not start the demo graph")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed: apt-get install tmux")
    compileall.compile_dir(str(REPO / "planner_tui"), quiet=1)  # start from bytecode, as an install does
    with tempfile.TemporaryDirectory(prefix="planner-tui-bench-") as tmp:
        env = {
            "PLANNER_TUI_STATE_DIR": f"{tmp}/state",
            "PLANNER_TUI_CONFIG_DIR": f"{tmp}/config",
            "TERM": "xterm-256color",
            "PATH": os.environ.get("PATH", ""),
        }
        fixture = [sys.executable, str(REPO / "benchmarks" / "dashboard_fixture_app.py")]
        print(f"terminal: tmux {SIZE[0]}x{SIZE[1]}, python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
        if not args.skip_demo:
            try:
                demo = first_frames([sys.executable, "-m", "planner_tui"], env, args.runs, True, DEMO_FRAME)
            finally:
                kill_recorded(Path(env["PLANNER_TUI_STATE_DIR"]))
            print(f"first frame (GPU rows + 3 panels), demo median {statistics.median(demo) * 1000:6.0f} ms  "
                  f"(runs: {', '.join(f'{s * 1000:.0f}' for s in demo)} ms)")  # fmt: skip
        bare = import_cost("pass")
        imports = import_cost("import planner_tui.cli.dashboard_cmd, planner_tui.tui.app")
        print(f"  of which: python start {bare * 1000:.0f} ms, imports (Textual + the app) "
              f"{(imports - bare) * 1000:.0f} ms; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        small = first_frames([*fixture, "--prefill", "2", "--decode", "3"], env, args.runs, False)
        print(f"first frame, fixture app (6 replicas)   median {statistics.median(small) * 1000:6.0f} ms")

        session = f"pt-bench-cpu-{os.getpid()}"
        start(session, [*fixture, "--gpus", "8", "--prefill", "15", "--decode", "16", "--interval", "1"], env)
        try:
            wait_for(session, "ns demo")
            process = pane_process(session)
            time.sleep(5.0)  # warm-up: first layout, panels mounted
            before, wall = process.cpu_times(), time.perf_counter()
            time.sleep(args.seconds)
            after, wall = process.cpu_times(), time.perf_counter() - wall
            used = (after.user - before.user) + (after.system - before.system)
            rss = process.memory_info().rss
            screen = tmux("capture-pane", "-p", "-t", session)
        finally:
            stop(session, None)
        replicas = sum(1 for line in screen.splitlines() if " ready " in line or " starting " in line)
        print(f"CPU, 8 GPUs + 32 replicas, 1 s refresh  {used / wall * 100:6.2f} % of one core over {wall:.0f} s "
              f"({used:.2f} s CPU)")  # fmt: skip
        print(f"RSS at the end                          {rss / 2**20:6.1f} MiB")
        print(f"(replica rows visible in the 120x40 pane: {replicas}; the rest scroll)")


if __name__ == "__main__":
    main()
