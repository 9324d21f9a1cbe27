"""The dashboard's start-up work runs on another core: one forked child validates the graph file and
then takes the first look (state file, GPUs), handing back each result as it is done. These tests run
real children in fresh interpreters (a process with one thread, as the dashboard command is when it
forks) and check what a person would notice: the same errors as ``config check``, a first look with
the GPUs and replicas, nothing left running, and a dead or hung child costing nothing but itself."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from planner_tui.forking import ForkedSteps, NoResult
from tests.config.test_outline_and_check import BAD
from tests.metrics.conftest import fake_nvml, fake_nvml_path  # noqa: F401 - fixtures

REPO = Path(__file__).resolve().parents[2]
GOOD = """namespace = "startup"
[resources]
gpus = [0, 1]
[components.worker]
role = "decode"
command = "sleep"
gpus_per_replica = 1
"""


def in_fresh_process(script: str, env: dict[str, str] | None = None) -> dict[str, object]:
    """Run ``script`` (which prints one JSON object) in a new interpreter; its JSON."""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False, env=env
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def opener_script(graph: Path) -> str:
    return f"""
import json, sys
from pathlib import Path
from planner_tui.config.document import outline_of, parse_graph_document
from planner_tui.runtime.opening import SessionOpener
text = Path({str(graph)!r}).read_text()
opener = SessionOpener(text, {str(graph)!r}, outline_of(parse_graph_document(text)))
forked = opener._steps.forked
try:
    opener.check()
    lines = []
except Exception as exc:
    lines = exc.lines()
look = opener.first_look() if not lines else None
print(json.dumps({{
    "forked": forked, "lines": lines,
    "gpus": [g.name for g in look.gpus] if look else None,
    "components": sorted(look.components) if look else None,
    "loaded_here": sorted(m for m in ("pydantic", "pynvml", "psutil") if m in sys.modules),
}}))
"""


def test_a_bad_file_gets_the_errors_config_check_gives_and_no_model_loads_here(tmp_path: Path) -> None:
    from planner_tui.config import ConfigError, parse_graph

    graph = tmp_path / "graph.toml"
    graph.write_text(BAD)
    seen = in_fresh_process(opener_script(graph))
    with pytest.raises(ConfigError) as direct:
        parse_graph(BAD, str(graph))
    assert seen["forked"] is True
    assert seen["lines"] == direct.value.lines() and len(direct.value.lines()) == 2
    assert seen["loaded_here"] == []  # validated in the child


def test_a_good_file_gets_its_first_look_from_the_child(
    tmp_path: Path,
    fake_nvml: Path,  # noqa: F811
) -> None:
    import os

    from planner_tui.metrics import nvml

    graph = tmp_path / "graph.toml"
    graph.write_text(GOOD)
    env = {**os.environ, "FAKE_NVML_GPU_COUNT": "2", nvml.LIBRARY_ENV: str(fake_nvml)}
    seen = in_fresh_process(opener_script(graph), env)
    assert seen["forked"] is True and seen["lines"] == []
    assert seen["gpus"] == ["Fake GPU 0", "Fake GPU 1"] and seen["components"] == ["worker"]
    assert seen["loaded_here"] == []  # NVML, psutil and pydantic loaded in the child, not beside Textual


def test_results_come_in_order_and_an_exception_comes_back_as_itself() -> None:
    script = """
import json
from planner_tui.forking import ForkedSteps
def steps():
    yield 1
    yield {"two": [2]}
    raise ValueError("third step failed")
s = ForkedSteps(steps)
import time
deadline = time.monotonic() + 10
while not s.ready() and time.monotonic() < deadline:
    time.sleep(0.01)
out = [s.forked, s.next_result(0), s.next_result(10)]
try:
    s.next_result(10)
except ValueError as exc:
    out.append(str(exc))
print(json.dumps(out))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(result.stdout) == [True, 1, {"two": [2]}, "third step failed"]


def test_a_hung_child_is_killed_at_the_timeout_and_a_dead_one_gives_no_result() -> None:
    script = """
import json, os, time
from planner_tui.forking import ForkedSteps, NoResult
def hang():
    yield "first"
    time.sleep(600)
    yield "never"
s = ForkedSteps(hang)
pid = s._pid
first = s.next_result(10)
try:
    s.next_result(0.3)
    hung = "answered"
except NoResult as exc:
    hung = str(exc)
try:
    os.kill(pid, 0)
    alive = True
except ProcessLookupError:
    alive = False
def die():
    os._exit(3)
    yield None
d = ForkedSteps(die)
try:
    d.next_result(10)
    dead = "answered"
except NoResult as exc:
    dead = str(exc)
print(json.dumps({"first": first, "hung": hung, "alive": alive, "dead": dead}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    seen = json.loads(result.stdout)
    assert seen["first"] == "first" and seen["hung"] == "no result within 0.3 s"
    assert seen["alive"] is False  # killed and reaped: nothing left running
    assert seen["dead"] == "the child gave no further result"


def test_beside_other_threads_it_runs_in_a_thread_instead_of_forking() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    children_before = {p.pid for p in psutil.Process().children()}
    try:
        steps = ForkedSteps(lambda: iter(["here"]))
        assert steps.forked is False
        assert steps.next_result(10) == "here"
        with pytest.raises(NoResult, match="no further result"):
            steps.next_result()  # ended: answered at once, never a wait without end
    finally:
        stop.set()
        other.join()
    assert {p.pid for p in psutil.Process().children()} == children_before
