"""A pin outlives the process that set it: the next owner of a graph left running restores it, and the
planner goes on holding the component; stopping the graph forgets it. What the pins file says is
checked against the graph before it is used."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

from planner_tui.config import validate_graph
from planner_tui.model import Outcome
from planner_tui.planner.state import Pin
from planner_tui.runtime.pins_store import load_pins, pins_path, save_pins
from tests.runtime.conftest import LoadFile, next_decision, session_graph
from tests.runtime.test_session import decode_of, wait_ready


async def test_a_pin_outlives_its_owner_and_stopping_the_graph_forgets_it(open_session, load_file: LoadFile) -> None:  # type: ignore[no-untyped-def]
    graph = session_graph("pins-kept", load_file)
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.1)  # the policy wants decode down to 1
    path = pins_path(graph.namespace)
    first = await open_session(graph)
    await first.scale("decode", 2)
    await wait_ready(first, "decode", 2)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    await first.close(stop_graph=False)  # the dashboard quits, leaving the graph running

    second = await open_session(graph)
    assert second.pins["decode"] == Pin("decode", 2, None, "manual scale")
    events = second.subscribe()
    held = await next_decision(events, lambda d: decode_of(d)[0] == 2, what="a decision on decode at 2")
    assert decode_of(held) == (2, 2, Outcome.PINNED)  # the new owner holds it against the policy
    assert await second.unpin("decode")
    assert not path.exists()  # nothing pinned, nothing kept
    await second.pin("prefill", 1, until=time.time() + 3600)
    assert json.loads(path.read_text())["pins"]["prefill"]["replicas"] == 1
    await second.close(stop_graph=True)
    assert not path.exists()  # the graph was stopped: a fresh start begins from the file's counts

    third = await open_session(graph)
    assert dict(third.pins) == {}


GRAPH = {
    "namespace": "pinned",
    "resources": {"gpus": [0, 1, 2, 3]},
    "components": {"decode": {"role": "decode", "command": "w", "min_replicas": 1, "max_replicas": 3}},
}


def test_pins_that_no_longer_apply_are_dropped_each_with_its_reason(tmp_path: Path) -> None:
    graph = validate_graph(GRAPH)
    path = tmp_path / "pins.json"
    now = time.time()
    entries = {
        "decode": {"replicas": 2, "until": now + 60, "reason": "manual\x1b[31m scale"},
        "gone": {"replicas": 1, "until": None, "reason": "pinned"},
    }
    path.write_text(json.dumps({"version": 1, "namespace": "pinned", "pins": entries}))
    pins, problems = load_pins(path, graph, now)
    assert pins == [Pin("decode", 2, now + 60, "manual[31m scale")]  # the escape character is not drawn
    assert problems == ["pin on gone not restored: the graph has no component 'gone' now"]

    entries = {"decode": {"replicas": 5, "until": None, "reason": "pinned"}}
    path.write_text(json.dumps({"version": 1, "namespace": "pinned", "pins": entries}))
    assert load_pins(path, graph, now) == (
        [],
        ["pin on decode not restored: 5 replicas is outside min_replicas..max_replicas (1..3) now"],
    )
    entries = {"decode": {"replicas": 2, "until": now - 1, "reason": "pinned"}}
    path.write_text(json.dumps({"version": 1, "namespace": "pinned", "pins": entries}))
    assert load_pins(path, graph, now) == ([], [])  # its time is up: what a pin does


def test_an_unreadable_pins_file_is_set_aside_and_the_start_goes_on(tmp_path: Path) -> None:
    graph = validate_graph(GRAPH)
    path = tmp_path / "pins.json"
    path.write_text('{"version": 1, "pins": {"decode": {"replicas": 2')  # cut short
    pins, problems = load_pins(path, graph, time.time())
    assert pins == [] and len(problems) == 1
    assert problems[0].startswith(f"the pins file {path} is unreadable (")
    assert problems[0].endswith(f"set aside as {path}.bad, no pin restored")
    assert not path.exists() and (tmp_path / "pins.json.bad").exists()
    assert load_pins(path, graph, time.time()) == ([], [])  # never read again


def test_saving_is_atomic_and_private_and_nothing_pinned_leaves_no_file(tmp_path: Path) -> None:
    path = tmp_path / "ns" / "pins.json"
    save_pins(path, "pinned", {"decode": Pin("decode", 2, None, "manual scale")})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text())["pins"] == {"decode": {"replicas": 2, "until": None, "reason": "manual scale"}}
    assert [p.name for p in path.parent.iterdir()] == ["pins.json"]  # no temporary file left
    save_pins(path, "pinned", {})
    assert not path.exists()
