"""`planner-tui profile` on the demo's simulated graph (real processes under circusd, a real sim frontend).

The sim's performance model has a known capacity: :mod:`tests.profiling.model_capacity` runs the model
itself in-process (no processes, no HTTP) at the same request shapes and targets. The profiler, which
only sees the graph through the frontend's API and the servers' metrics, must find the same capacity
within a stated tolerance:

- decode (ITL-bound or KV-bound): within 20 %;
- prefill (TTFT-bound): within 30 %: the processes add what the model lacks (the frontend's queue, two
  HTTP hops per request, a sped-up clock on a shared CPU) and the quick sweep brackets the target with
  few points, read through 15-bucket histograms.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from planner_tui.planner.profile import load_profile
from planner_tui.sim.perf_model import EngineRole, PerfParams
from tests.profiling.model_capacity import capacity_at_target
from tests.recording.live import demo_copy

PROFILE_TIMEOUT_S = 420
TOLERANCE = {"prefill": 0.30, "decode": 0.20}
#: the demo's workers (planner_tui/config/demo.toml): prefill --prefetch 16, decode the default; jitter 5 %
DEMO_PARAMS = {"prefill": PerfParams(prefetch=16, jitter=0.05), "decode": PerfParams(prefetch=4, jitter=0.05)}


def profile_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PLANNER_TUI_STATE_DIR"] = str(root / "state")
    env["PLANNER_TUI_CONFIG_DIR"] = str(root / "config")
    return env


def frontend_port(graph_file: Path) -> int:
    found = re.search(r"^port = (\d+)$", graph_file.read_text(encoding="utf-8"), re.MULTILINE)
    assert found, graph_file
    return int(found.group(1))


def graph_processes(port: int) -> list[psutil.Process]:
    """Live processes of a demo copy: its sim frontend (--port PORT) and the workers that call it."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "planner_tui" in cmdline and (f"http://127.0.0.1:{port}" in cmdline or str(port) in cmdline):
            found.append(proc)
    return found


def run_profile(graph_file: Path, out: Path, env: dict[str, str], *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "planner_tui", "profile", "--graph", str(graph_file), "--out", str(out), *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=PROFILE_TIMEOUT_S, check=False)


@pytest.fixture(scope="module")
def quick_demo_profile(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """One `planner-tui profile --quick` of a demo copy (own namespace and ports): its run, profile and graph."""
    root = tmp_path_factory.mktemp("profile-demo")
    graph_file = demo_copy(root, "profdemo")
    out = root / "demo-profile.toml"
    done = run_profile(graph_file, out, profile_env(root), "--quick")
    print(done.stdout)
    print(done.stderr[-4000:], file=sys.stderr)
    return done, out, graph_file


def test_quick_profile_of_the_demo_matches_the_perf_model(
    quick_demo_profile: tuple[subprocess.CompletedProcess[str], Path, Path],
) -> None:
    done, out, graph_file = quick_demo_profile
    assert done.returncode == 0, done.stderr[-3000:]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    profile = load_profile(out)  # what the throughput policy reads
    assert profile.meta is not None and not profile.meta.partial
    assert (profile.meta.ttft_target_ms, profile.meta.itl_target_ms) == (500.0, 50.0)
    sweep = json.loads(out.with_name("demo-profile.sweep.json").read_text(encoding="utf-8"))
    shapes = {(p["component"], p["length"]): (p["isl"], p["osl"]) for p in sweep["points"]}
    compared = []
    for component in ("prefill", "decode"):
        curve = profile.curve_for(component)
        assert curve is not None, f"no {component} curve in {out.read_text()}"
        lengths = curve.lengths or []
        assert len(lengths) == 2  # --quick: two lengths per component
        for length, measured in zip(lengths, curve.tokens_per_s, strict=True):
            isl, osl = shapes[(component, length)]
            role = EngineRole(component)
            target = 0.5 if role is EngineRole.PREFILL else 0.05
            expected = capacity_at_target(role, DEMO_PARAMS[component], isl, osl, target)
            compared.append((component, length, round(measured), round(expected)))
            assert abs(measured - expected) <= TOLERANCE[component] * expected, compared
    print("measured vs the perf model (tokens/s):", compared)
    # every point was cross-checked: the client's request rate against the frontend's own counter
    rate_checks = [c for p in sweep["points"] if p["steady"] for c in p["checks"] if c["what"] == "request rate"]
    assert rate_checks and all(c["agrees"] for c in rate_checks), rate_checks
    # and the summary says what was found, with a chart of latency against load and the target
    assert "prefill: capacity of one replica at TTFT 500 ms" in done.stdout
    assert "decode: capacity of one replica at ITL 50 ms" in done.stdout
    assert "TTFT p95 against load; target 500 ms" in done.stdout
    assert not graph_processes(frontend_port(graph_file)), "the profiled graph was left running"


def test_ctrl_c_writes_a_partial_profile_and_stops_the_graph(tmp_path: Path) -> None:
    graph_file = demo_copy(tmp_path, "profstop")
    out = tmp_path / "partial.toml"
    command = [sys.executable, "-m", "planner_tui", "profile", "--graph", str(graph_file), "--out", str(out)]
    command += ["--quick", "--no-chart"]
    log_path = tmp_path / "profile.log"
    with open(log_path, "w", encoding="utf-8") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=profile_env(tmp_path), text=True)
        try:
            deadline = time.monotonic() + 180
            # the progress lines are the process's events: wait for the second measured point
            while len(re.findall(r"^  prefill isl", log_path.read_text(encoding="utf-8"), re.MULTILINE)) < 2:
                assert proc.poll() is None, log_path.read_text(encoding="utf-8")
                assert time.monotonic() < deadline, log_path.read_text(encoding="utf-8")
                time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            code = proc.wait(timeout=90)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text = log_path.read_text(encoding="utf-8")
    assert code == 130, text
    assert "sweep PARTIAL (stopped (Ctrl-C))" in text
    profile = load_profile(out)
    assert profile.meta is not None and profile.meta.partial
    assert profile.curve_for("prefill") is not None and profile.curve_for("decode") is None
    assert "PARTIAL" in out.read_text(encoding="utf-8")
    sweep = json.loads(out.with_name("partial.sweep.json").read_text(encoding="utf-8"))
    assert sweep["partial"] is True and len(sweep["points"]) >= 2
    assert not list(tmp_path.glob(".*.tmp")), "a temporary file was left behind"
    assert not graph_processes(frontend_port(graph_file)), "Ctrl-C left the graph's processes running"


def test_the_throughput_policy_with_the_profile_holds_the_targets_on_the_demo_load_where_the_load_policy_does_not(
    quick_demo_profile: tuple[subprocess.CompletedProcess[str], Path, Path], tmp_path: Path
) -> None:
    """The demo's own sine load (2 -> 18 -> 2 req/s), its graph and limits, both policies in one `compare` run.

    `compare` runs the demo's workers' model (the same Engine and broker as the processes) with the real
    planner engine in virtual time, one candidate per policy, the same arrivals for both. With the profile
    just written, the throughput policy holds TTFT p95 within 500 ms and ITL p95 within 50 ms over two
    periods of the sine; the demo's own load policy, in the same run, does not hold TTFT (its prefill
    signal, the workers' waiting requests, stays low while the backlog is at the frontend). The
    throughput candidate predicts with a linear trend: the sine rises by up to 0.28 req/s every second,
    and a moving average lags such a ramp by half its window (the TTFT misses land on the rising edges).
    """
    done, profile_file, graph_file = quick_demo_profile
    assert done.returncode == 0, done.stderr[-2000:]
    command = [sys.executable, "-m", "planner_tui", "compare", "--graph", str(graph_file), "--duration", "360"]
    candidate = f"throughput: policy=throughput, profile_file={profile_file}, predictor=linear_trend"
    command += ["--candidate", candidate, "--json", "--no-charts"]
    run = subprocess.run(command, capture_output=True, text=True, env=profile_env(tmp_path), timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    results = {c["name"]: c for c in json.loads(run.stdout)["candidates"]}
    load, throughput = results["baseline"], results["throughput"]  # baseline: the demo's own policy = "load"
    print({name: (c["sla"], c["peak_replicas"]) for name, c in results.items()})
    sla = throughput["sla"]
    assert (sla["ttft_target_s"], sla["itl_target_s"]) == (0.5, 0.05)  # the targets the profile was measured at
    assert sla["ttft_p95_s"] <= sla["ttft_target_s"], results
    assert sla["itl_p95_s"] <= sla["itl_target_s"], results
    assert throughput["peak_replicas"]["prefill"] > 1 and throughput["peak_replicas"]["decode"] > 1  # it scaled
    # against the load policy on the same arrivals: it misses the TTFT target, the throughput policy does not
    assert load["sla"]["ttft_p95_s"] > load["sla"]["ttft_target_s"]
    assert throughput["requests"]["over_queue_bound"] == 0
    assert sla["requests_within_sla"] > load["sla"]["requests_within_sla"]
