"""The dashboard's start-up reads a graph file twice over: an outline from the TOML alone (its first
frame) and a validation on another core (its errors, before anything is drawn). Both must agree with
the validated graph (tests/runtime/test_start_up.py runs them as the dashboard does)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from planner_tui.config import ConfigError, load_graph, parse_graph
from planner_tui.config.document import outline_of, parse_graph_document, problems_in, read_graph_text

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


def test_problems_in_lists_what_validation_reports() -> None:
    with pytest.raises(ConfigError) as direct:
        parse_graph(BAD, "graph.toml")
    assert problems_in(BAD, "graph.toml") == direct.value.problems and len(direct.value.problems) == 2
    assert problems_in((REPO / "examples" / "demo.toml").read_text()) == []
