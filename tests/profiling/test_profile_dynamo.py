"""`planner-tui profile` on a real Dynamo 1.6.1 graph: examples/dynamo/graph.toml (frontend + prefill and decode
mockers) as a user runs it, with its ports, paths and interpreter swapped for the test's.

The sweep drives the real OpenAI-compatible frontend with streamed completions, cross-checks the client's
figures with the frontend's and the workers' own metrics, and writes a profile that `planner-tui config
check` accepts and that `planner-tui plan` with the throughput policy decides from (its reasons cite the
profile's capacity). A short sweep (one length per component, at most 4 clients) keeps the test quick.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from planner_tui.planner.profile import load_profile
from tests.dynamo.harness import MODEL_NAME, free_port_range

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "dynamo" / "graph.toml"
CITED = re.compile(r"tok/s per replica \(profile at (?:isl|context_length) \d+, measured at (?:TTFT|ITL) [\d.]+ ms")


def send_requests(base_url: str, stop: threading.Event) -> None:
    """Chat completions one after another until ``stop`` (refused ones while the graph starts are retried)."""
    with httpx.Client(timeout=30, trust_env=False) as client:
        while not stop.is_set():
            body = {"model": MODEL_NAME, "messages": [{"role": "user", "content": "hello world"}], "max_tokens": 16}
            try:
                client.post(f"{base_url}/v1/chat/completions", json=body)
            except httpx.HTTPError:
                stop.wait(0.2)


def example_copy(directory: Path, python: Path, model: Path, extra_planner: str = "") -> tuple[Path, int]:
    """The example graph with free ports, the test's Dynamo venv, model and discovery directory."""
    first, last = free_port_range(41)
    text = EXAMPLE.read_text(encoding="utf-8")
    text = text.replace(
        'python = "~/.cache/planner-tui/dynamo-1.6.1/bin/python"', f"python = {json.dumps(str(python))}"
    )
    text = text.replace("/tmp/planner-tui-dynamo/model", str(model))
    text = text.replace("/tmp/planner-tui-dynamo/", str(directory / "dynamo") + "/")
    text = text.replace('namespace = "dynamo-cpu"', 'namespace = "dyn-profile"')
    text = text.replace("port = 28080", f"port = {first}")
    text = text.replace("port_range = [28100, 28199]", f"port_range = [{first + 1}, {last}]")
    text = text.replace('policy = "load"', 'policy = "load"' + extra_planner)
    path = directory / "graph.toml"
    path.write_text(text, encoding="utf-8")
    return path, first


def leftovers(kv_root: Path, port: int) -> list[int]:
    """Pids of Dynamo processes of this graph still alive (its discovery directory, or its frontend port)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmdline = proc.info.get("cmdline") or []
            if ("dynamo.frontend" in cmdline and str(port) in cmdline) or (
                "dynamo.mocker" in cmdline and proc.environ().get("DYN_FILE_KV", "").startswith(str(kv_root))
            ):
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


def test_profile_a_real_dynamo_graph_then_plan_with_it(
    dynamo_python: Path, dynamo_model: Path, isolated_dirs: Path
) -> None:
    env = dict(os.environ, HOME=str(isolated_dirs / "home"))
    (isolated_dirs / "home").mkdir()
    graph_file, port = example_copy(isolated_dirs, dynamo_python, dynamo_model)
    out = isolated_dirs / "dynamo-profile.toml"
    command = [sys.executable, "-m", "planner_tui", "profile", "--graph", str(graph_file), "--out", str(out)]
    command += ["--quick", "--isl", "64", "--context", "96", "--max-load", "4", "--no-chart"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=400, check=False)
    print(done.stdout, done.stderr[-4000:])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "OpenAI API" in done.stderr
    profile = load_profile(out)
    prefill, decode = profile.curve_for("prefill"), profile.curve_for("decode")
    assert prefill is not None and prefill.axis == "isl" and prefill.tokens_per_s[0] > 0
    assert decode is not None and decode.axis == "context_length" and decode.tokens_per_s[0] > 0
    sweep = json.loads(out.with_name("dynamo-profile.sweep.json").read_text(encoding="utf-8"))
    assert sweep["load_kind"] == "concurrency"
    points = sweep["points"]
    # the client measured every request itself, and the frontend's and workers' own metrics were read
    assert all("client" in p["ttft"] and "frontend" in p["ttft"] for p in points if p["steady"])
    assert any("decode" in p["itl"] for p in points if p["component"] == "decode")
    rate_checks = [c for p in points if p["steady"] for c in p["checks"] if c["what"] == "request rate"]
    assert rate_checks and all(c["agrees"] for c in rate_checks), rate_checks
    assert not leftovers(isolated_dirs / "dynamo", port), "the profiled graph was left running"

    # config check accepts a graph that uses the profile, and plan's throughput decisions cite it
    planned, port = example_copy(
        isolated_dirs, dynamo_python, dynamo_model, f'\npolicy = "throughput"\nprofile_file = {json.dumps(str(out))}'
    )
    planned.write_text(planned.read_text().replace('policy = "load"\n', "", 1), encoding="utf-8")
    check = subprocess.run(
        [sys.executable, "-m", "planner_tui", "config", "check", str(planned)], capture_output=True, text=True, env=env
    )
    assert check.returncode == 0, check.stderr
    plan = subprocess.Popen(
        [sys.executable, "-m", "planner_tui", "plan", "--graph", str(planned), "--advisory", "--interval", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    stop = threading.Event()
    sender = threading.Thread(target=send_requests, args=(f"http://127.0.0.1:{port}", stop), daemon=True)
    sender.start()  # the throughput policy needs a request rate, ISL and OSL: a little traffic
    cited: list[str] = []
    seen: list[str] = []
    try:
        assert plan.stdout is not None
        deadline = time.monotonic() + 120
        for line in plan.stdout:  # one line per decision: the plan process's own events
            seen.append(line)
            cited = CITED.findall(line)
            if cited or time.monotonic() > deadline:
                break
    finally:
        stop.set()
        plan.send_signal(signal.SIGINT)
        try:
            _out, err = plan.communicate(timeout=60)
        finally:
            if plan.poll() is None:
                plan.kill()
        sender.join(timeout=15)
    assert cited, "".join(seen[-10:])
    assert plan.returncode == 0, err[-3000:]
    assert "policy throughput" in err
    assert not leftovers(isolated_dirs / "dynamo", port), "plan left the graph running"
