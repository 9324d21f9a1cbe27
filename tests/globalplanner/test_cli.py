"""``planner-tui global-planner`` as a user runs it: a real service process, its log reader, its tokens,
and what its shutdown does to the graph it started."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from click.testing import CliRunner

from planner_tui.cli.main import cli
from tests.connectors.local.conftest import alive, kill_leftovers, recorded_pids
from tests.runtime.conftest import WORKER
from tests.runtime.test_demo_e2e import free_port


def graph_file(tmp_path: Path, namespace: str) -> Path:
    load = tmp_path / "load.json"
    load.write_text("{}")
    base = 30000 + free_port() % 20000
    text = (
        f'namespace = "{namespace}"\n[resources]\ngpus = []\nport_range = [{base}, {base + 39}]\n'
        '[components.decode]\nrole = "decode"\ncommand = "{python}"\n'
        f'args = ["{WORKER}", "--port", "{{port}}", "--load-file", "{load}", "--component", "{{component}}"]\n'
        'health_url = "http://127.0.0.1:{port}/health"\nmax_replicas = 3\ngraceful_timeout_s = 3.0\n'
    )
    path = tmp_path / f"{namespace}.toml"
    path.write_text(text)
    return path


def wait_listening(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.1)  # another process: nothing to wait on but its socket
    raise AssertionError(f"{url} did not answer within {timeout} s")


def test_the_service_process_scales_logs_and_stops_its_graph_on_sigterm(tmp_path: Path, isolated_dirs: Path) -> None:
    port = free_port()
    tokens, mine = tmp_path / "tokens.toml", tmp_path / "cli-app.token"
    made = CliRunner().invoke(cli, ["global-planner", "token", "cli-app", "--file", str(tokens), "--out", str(mine)])
    assert made.exit_code == 0, made.output
    assert os.stat(tokens).st_mode & 0o777 == 0o600 and os.stat(mine).st_mode & 0o777 == 0o600
    env = os.environ | {"DYN_NAMESPACE": "gp-cli"}
    command = [sys.executable, "-m", "planner_tui", "global-planner", "--environment", "local"]
    command += ["--graph", f"app={graph_file(tmp_path, 'cli-app')}", "--port", str(port), "--token-file", str(tokens)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}/gp-cli/GlobalPlanner"
    try:
        wait_listening(f"{base}/health", process)
        body = {
            "caller_namespace": "cli-app",
            "graph_deployment_name": "app",
            "k8s_namespace": "default",
            "target_replicas": [{"sub_component_type": "decode", "desired_replicas": 2}],
            "blocking": True,
        }
        headers = {"Authorization": f"Bearer {mine.read_text().strip()}"}
        answer = httpx.post(f"{base}/scale_request", json=body, headers=headers, timeout=60).json()
        assert answer == {"status": "success", "message": "Scaled app successfully", "current_replicas": {"decode": 2}}
        pids = recorded_pids(isolated_dirs / "state")
        assert len(pids) == 3  # circusd and two decode workers

        process.send_signal(signal.SIGTERM)
        assert process.wait(60) == 0
        assert not [pid for pid, created in pids if alive(pid, created)]  # nothing left running
    finally:
        if process.poll() is None:
            process.kill()
        kill_leftovers(recorded_pids(isolated_dirs / "state"))

    printed = CliRunner(env={"DYN_NAMESPACE": "gp-cli"}).invoke(cli, ["global-planner", "log"])
    assert printed.exit_code == 0, printed.output
    [line] = printed.output.splitlines()
    assert "cli-app -> default/app decode=2 | success: Scaled app successfully" in line
    as_json = CliRunner().invoke(cli, ["global-planner", "log", "--namespace", "gp-cli", "--json"])
    record = json.loads(as_json.output)
    assert record["caller"] == "cli-app" and record["http_status"] == 200 and record["latency_ms"] > 0


def test_bad_options_are_refused_with_the_fix(tmp_path: Path) -> None:
    runner = CliRunner()
    no_ns = runner.invoke(cli, ["global-planner", "--no-operation"], env={"DYN_NAMESPACE": ""})
    assert no_ns.exit_code == 2 and "set DYN_NAMESPACE=<namespace>" in no_ns.output
    remote = runner.invoke(cli, ["global-planner", "--namespace", "g", "--no-operation", "--host", "0.0.0.0"])
    assert remote.exit_code == 2 and "--allow-remote" in remote.output
    no_graph = runner.invoke(cli, ["global-planner", "--namespace", "g", "--environment", "local"])
    assert no_graph.exit_code == 2 and "--graph NAME=FILE" in no_graph.output
    bad_graph = runner.invoke(cli, ["global-planner", "--namespace", "g", "--graph", "nofile"])
    assert bad_graph.exit_code == 2 and "expected NAME=FILE" in bad_graph.output
