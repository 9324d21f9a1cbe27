"""The owner's pins, kept on disk so a pin outlives the process that set it.

A pin holds a component "until unpinned or its time is up". The dashboard that set it may quit and
leave the graph running; the next owner (a dashboard, ``planner-tui plan``) restores it from
``<state dir>/<namespace>/pins.json`` (0600, written atomically beside the audit log), so the planner
does not undo a manual scale just because its owner changed. Stopping the graph forgets them: a graph
started afresh begins from its file's counts.

What is read back is checked against the graph before it is used: a pin whose component is gone,
whose count is outside the component's bounds now, or whose time is up is dropped, and a file that
cannot be read is set aside, each with a message naming it; nothing in the file can stop the start.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from planner_tui.config.graph import GraphConfig
from planner_tui.config.paths import state_dir, write_private_text
from planner_tui.planner.state import Pin

log = logging.getLogger(__name__)

PINS_FILE_NAME = "pins.json"
FORMAT_VERSION = 1
#: the longest reason kept (the dashboard and the audit log show it)
MAX_REASON_CHARS = 200


def pins_path(namespace: str) -> Path:
    """``<state dir>/<namespace>/pins.json``."""
    return state_dir() / namespace / PINS_FILE_NAME


def save_pins(path: Path, namespace: str, pins: Mapping[str, Pin]) -> None:
    """Write ``pins`` to ``path`` atomically (0600); with no pins, remove the file. Raises OSError."""
    if not pins:
        path.unlink(missing_ok=True)
        return
    data = {
        "version": FORMAT_VERSION,
        "namespace": namespace,
        "pins": {name: {"replicas": p.replicas, "until": p.until, "reason": p.reason} for name, p in pins.items()},
    }
    write_private_text(path, json.dumps(data, indent=1, allow_nan=False) + "\n")


def load_pins(path: Path, graph: GraphConfig, now: float) -> tuple[list[Pin], list[str]]:
    """The pins in ``path`` that still apply to ``graph`` at ``now``, and a message for each one dropped.

    A missing file gives nothing. A file that cannot be read or parsed is renamed ``pins.json.bad`` (kept
    for a look, never read again) and named in the messages.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"cannot read the pins in {path}: {exc}; no pin restored"]
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
            raise ValueError(f"not a version {FORMAT_VERSION} pins file")
        entries = data.get("pins")
        if not isinstance(entries, dict):
            raise ValueError("no 'pins' table")
    except ValueError as exc:
        bad = path.with_name(path.name + ".bad")
        try:
            path.replace(bad)
            kept = f"set aside as {bad}"
        except OSError:
            kept = "left as it is"
        return [], [f"the pins file {path} is unreadable ({exc}); {kept}, no pin restored"]
    pins: list[Pin] = []
    problems: list[str] = []
    for name, entry in entries.items():
        pin, problem = _pin_of(str(name), entry, graph, now)
        if pin is not None:
            pins.append(pin)
        elif problem:
            problems.append(f"pin on {name} not restored: {problem}")
    return pins, problems


def _pin_of(name: str, entry: Any, graph: GraphConfig, now: float) -> tuple[Pin | None, str | None]:
    """The pin ``entry`` describes, or why it does not apply (None for one whose time is simply up)."""
    if not isinstance(entry, dict):
        return None, "not a table"
    comp = graph.components.get(name)
    if comp is None:
        return None, f"the graph has no component {name!r} now"
    replicas, until, reason = entry.get("replicas"), entry.get("until"), entry.get("reason", "pinned")
    if isinstance(replicas, bool) or not isinstance(replicas, int):
        return None, f"replicas must be a whole number, got {replicas!r}"
    if not comp.min_replicas <= replicas <= comp.max_replicas:
        return None, (
            f"{replicas} replicas is outside min_replicas..max_replicas ({comp.min_replicas}..{comp.max_replicas}) now"
        )
    timed = isinstance(until, int | float) and not isinstance(until, bool)
    if until is not None and not (timed and math.isfinite(until)):
        return None, f"until must be a Unix time or null, got {until!r}"
    if until is not None and until <= now:
        return None, None  # its time is up: what a pin does, not a problem
    if not isinstance(reason, str):
        return None, f"reason must be text, got {reason!r}"
    shown = "".join(c for c in reason if c.isprintable())[:MAX_REASON_CHARS]  # drawn on the dashboard
    return Pin(name, replicas, None if until is None else float(until), shown), None
