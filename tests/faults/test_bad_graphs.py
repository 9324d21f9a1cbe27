"""Hostile graph files (issue 11, item 14): ``config check`` and ``plan`` refuse each one before anything
starts, with one line naming the key and exit code 2, never a traceback, and no process left behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]

BASE = """
namespace = "bad"
[components.worker]
role = "worker"
command = "{python}"
args = ["-c", "import time; time.sleep(60)", "MARKER"]
"""


def _chain(length: int) -> str:
    parts = ['namespace = "bad"']
    for i in range(length):
        dep = f'depends_on = ["c{i - 1}"]\n' if i else ""
        parts.append(f'[components.c{i}]\nrole = "worker"\ncommand = "{{python}}"\n{dep}')
    return "\n".join(parts)


BAD_GRAPHS: dict[str, tuple[str, str]] = {
    "depends-on-chain-3000": (_chain(3000), "components: at most 256 components, got 3000"),
    "metrics-url-unparsable": (BASE + 'metrics_url = "http://[::1"\n', "components.worker.metrics_url: expected"),
    "metrics-url-file": (
        BASE + 'metrics_url = "file:///etc/passwd"\n',
        "components.worker.metrics_url: only http and https URLs are allowed",
    ),
    "same-fixed-port": (
        BASE + 'port = 21080\n[components.other]\nrole = "other"\ncommand = "{python}"\nport = 21080\n',
        "components.other.port: 21080 is already the fixed port of 'worker'",
    ),
    "interval-inf": (
        BASE + "[planner]\nadjustment_interval_s = inf\n",
        "planner.adjustment_interval_s: expected a finite number, got inf",
    ),
    "interval-nan": (
        BASE + "[planner]\nadjustment_interval_s = nan\n",
        "planner.adjustment_interval_s: expected a finite number, got nan",
    ),
    "max-replicas-huge": (
        BASE + "max_replicas = 100000000000000000000000\n",
        "components.worker.max_replicas: must be <= 4096",
    ),
    "format-spec": (
        BASE.replace('"MARKER"', '"{port:>100000000}"'),
        "components.worker.args: format specs are not allowed in placeholders",
    ),
    "conversion": (
        BASE.replace('"MARKER"', '"{port!r}"'),
        "components.worker.args: conversions are not allowed in placeholders",
    ),
    "attribute-access": (
        BASE.replace('"MARKER"', '"{ports.x.__class__}"'),
        "components.worker.args: unknown placeholder {ports.x.__class__}",
    ),
    "missing-command": (
        BASE.replace('"{python}"', '"no-such-command-planner-tui"'),
        "components.worker.command: executable 'no-such-command-planner-tui' not found on PATH",
    ),
}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner_tui", *args], capture_output=True, text=True, timeout=60, check=False
    )


def _processes_mentioning(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if any(marker in part for part in proc.info["cmdline"] or ()):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@pytest.mark.parametrize("case", sorted(BAD_GRAPHS))
def test_bad_graph_is_refused_by_config_check_and_by_plan(case: str, tmp_path: Path, isolated_dirs: Path) -> None:
    text, expected = BAD_GRAPHS[case]
    marker = f"planner-tui-bad-graph-{case}-{tmp_path.name}"
    graph = tmp_path / "graph.toml"
    graph.write_text(text.replace("MARKER", marker))
    for argv in (("config", "check", str(graph)), ("plan", "--graph", str(graph))):
        result = _cli(*argv)
        assert result.returncode == 2, (argv, result.stderr)
        assert "Traceback" not in result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"{graph}: {expected}"), (argv, lines)
    state = isolated_dirs / "state"
    assert not list(state.glob("local/*.json")), "plan started something"
    assert _processes_mentioning(marker) == []
    assert _processes_mentioning(str(state)) == []


def test_the_shipped_graphs_still_pass() -> None:
    for path in sorted((REPO / "examples").glob("*.toml")):
        result = _cli("config", "check", str(path))
        assert result.returncode == 0, result.stderr
