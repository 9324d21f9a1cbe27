"""The dashboard's start-up reads a graph file twice over: an outline from the TOML alone (its first
frame) and a validation on another core (its errors, before anything is drawn). Both must agree with
the validated graph, and a bad file must be reported exactly as ``config check`` reports it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from planner_tui.config import ConfigError, load_graph, parse_graph
from planner_tui.config.document import outline_of, parse_graph_document, read_graph_text
from planner_tui.config.parallel_check import GraphCheck

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(REPO.glob("examples/**/*.toml"))

BAD = """
namespace = "ns"
[components.decode]
role = "decode"
command = "w"
min_replicas = 3
max_replicas = 2
port = 99
"""


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.relative_to(REPO).as_posix() for p in EXAMPLES])
def test_the_outline_of_every_example_is_what_validation_makes_of_it(path: Path) -> None:
    graph = load_graph(path)
    outline = outline_of(parse_graph_document(read_graph_text(path), str(path)))
    assert outline is not None
    assert outline.namespace == graph.namespace
    assert outline.connector_kind == graph.connector.kind
    assert outline.gpus == (None if graph.resources.gpus == "auto" else tuple(graph.resources.gpus))
    assert outline.simulated_gpus == graph.resources.simulated_gpus
    assert dict(outline.components) == {name: c.to_spec(name) for name, c in graph.components.items()}
    assert dict(outline.initial_replicas) == {n: c.effective_initial_replicas for n, c in graph.components.items()}


def test_the_outline_leaves_out_what_the_file_does_not_say_plainly() -> None:
    document = parse_graph_document(
        textwrap.dedent(
            """
            namespace = "ns"
            [resources]
            gpus = [0, "one"]
            [components.good]
            role = "decode"
            [components.counts]
            role = "prefill"
            min_replicas = "two"
            [components.unknown-role]
            role = "chef"
            [components.Bad_Name]
            role = "decode"
            """
        )
    )
    outline = outline_of(document)
    assert outline is not None
    assert list(outline.components) == ["good"] and outline.gpus is None
    spec = outline.components["good"]
    assert (spec.sub_component_type, spec.min_replicas, spec.max_replicas, spec.gpus_per_replica) == ("decode", 1, 1, 0)
    # the namespace names the state file: one that is not a valid name outlines nothing
    assert outline_of({"namespace": "../../etc"}) is None and outline_of({}) is None


def check_in_a_fresh_process(tmp_path: Path, text: str, kill_child: bool = False) -> dict[str, object]:
    """Run a GraphCheck in a new interpreter (one thread, so it forks) and report what it saw."""
    graph = tmp_path / "graph.toml"
    graph.write_text(text)
    script = f"""
import json, os, signal, sys
from planner_tui.config.parallel_check import GraphCheck
check = GraphCheck(open({str(graph)!r}).read(), {str(graph)!r})
forked = check._pid is not None
if {kill_child!r} and forked:
    os.kill(check._pid, signal.SIGKILL)
try:
    check.wait()
    lines = []
except Exception as exc:
    lines = exc.lines()
print(json.dumps({{"forked": forked, "lines": lines, "pydantic_here": "pydantic" in sys.modules}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    return dict(json.loads(result.stdout))


def test_a_bad_file_is_reported_by_the_child_as_validation_reports_it(tmp_path: Path) -> None:
    seen = check_in_a_fresh_process(tmp_path, BAD)
    with pytest.raises(ConfigError) as direct:
        parse_graph(BAD, str(tmp_path / "graph.toml"))
    assert seen["forked"] is True
    assert seen["lines"] == direct.value.lines() and len(direct.value.lines()) == 2
    assert seen["pydantic_here"] is False  # the models were built in the child, not in the dashboard


def test_a_good_file_passes_without_loading_the_models_here(tmp_path: Path) -> None:
    seen = check_in_a_fresh_process(tmp_path, (REPO / "examples" / "demo.toml").read_text())
    assert seen == {"forked": True, "lines": [], "pydantic_here": False}


def test_a_killed_checker_loses_nothing_the_parent_checks_itself(tmp_path: Path) -> None:
    seen = check_in_a_fresh_process(tmp_path, BAD, kill_child=True)
    assert len(seen["lines"]) == 2 and "min_replicas" in str(seen["lines"])  # type: ignore[arg-type]


def test_in_a_threaded_process_it_checks_in_process(tmp_path: Path) -> None:
    import threading

    stop = threading.Event()
    helper = threading.Thread(target=stop.wait)
    helper.start()
    try:
        check = GraphCheck(BAD, "graph.toml")
        assert check._pid is None  # never forks beside other threads
        with pytest.raises(ConfigError, match="max_replicas"):
            check.wait()
    finally:
        stop.set()
        helper.join()
