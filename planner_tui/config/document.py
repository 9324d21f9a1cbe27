"""A graph file's text and TOML document, read without validating them (no pydantic).

:func:`read_graph_text` and :func:`parse_graph_document` are the first two steps of
:func:`planner_tui.config.load_graph`, with the same errors; :func:`outline_of` reads from a document
what the dashboard's first frame shows (:class:`GraphOutline`) while the graph is validated elsewhere.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner_tui.config.choices import DEFAULT_GPUS_PER_REPLICA, DEFAULT_MAX_REPLICAS, DEFAULT_MIN_REPLICAS, NAME_RE
from planner_tui.config.errors import ConfigError, Problem
from planner_tui.model.components import ComponentSpec, Role, sub_component_type_of

MAX_GRAPH_CHARS = 4 * 1024 * 1024  # a graph file is a few kB; this bounds what parsing it may cost


def read_graph_text(path: str | Path) -> str:
    """A graph file's text (at most one character more than :data:`MAX_GRAPH_CHARS`).

    Raises :class:`ConfigError` naming the file when it cannot be read or is not UTF-8.
    """
    source = str(path)
    try:
        with Path(path).open(encoding="utf-8") as file:
            return file.read(MAX_GRAPH_CHARS + 1)  # one more than allowed: parsing says it is too long
    except OSError as exc:
        raise ConfigError(source, [Problem((), f"cannot read the file: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [Problem((), f"not UTF-8 text: {exc.reason} at byte {exc.start}")]) from None


def parse_graph_document(text: str, source: str = "<graph>") -> dict[str, Any]:
    """The TOML document of graph-file ``text``; :class:`ConfigError` when too long or not TOML."""
    if len(text) > MAX_GRAPH_CHARS:
        raise ConfigError(source, [Problem((), f"longer than {MAX_GRAPH_CHARS} characters; a graph file is a few kB")])
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [Problem((), f"invalid TOML: {exc}")]) from None
    except RecursionError:
        raise ConfigError(source, [Problem((), "invalid TOML: arrays or tables nested too deeply")]) from None


@dataclass(frozen=True, slots=True)
class GraphOutline:
    """What a graph file plainly says about its namespace, backend, GPUs and components, unvalidated.

    The dashboard draws its first frame from this while the file is validated: a value of the wrong
    type is left out (a component without a plain role and counts is not outlined), never guessed;
    validation then reports it. ``gpus`` is None for ``"auto"`` (discovered through NVML);
    ``initial_replicas`` has a count for every outlined component.
    """

    namespace: str
    connector_kind: str = "local"
    gpus: tuple[int, ...] | None = None
    simulated_gpus: bool = False
    components: Mapping[str, ComponentSpec] = field(default_factory=dict)
    initial_replicas: Mapping[str, int] = field(default_factory=dict)


def outline_of(document: Mapping[str, Any]) -> GraphOutline | None:
    """The outline of a parsed graph file; None when it has no valid ``namespace`` (it names files)."""
    namespace = document.get("namespace")
    if not isinstance(namespace, str) or not NAME_RE.match(namespace):
        return None
    connector = _table(document.get("connector"))
    kind = connector.get("kind", "local")
    resources = _table(document.get("resources"))
    gpus = resources.get("gpus", "auto")
    components: dict[str, ComponentSpec] = {}
    initial: dict[str, int] = {}
    for name, value in _table(document.get("components")).items():
        table = _table(value)
        spec = _component_outline(name, table) if NAME_RE.match(name) else None
        if spec is not None:
            components[spec.name] = spec
            start = table.get("initial_replicas", spec.min_replicas)
            initial[spec.name] = start if _is_int(start) else spec.min_replicas
    return GraphOutline(
        namespace=namespace,
        connector_kind=kind if isinstance(kind, str) else "local",
        gpus=tuple(gpus) if isinstance(gpus, list) and all(_is_int(i) for i in gpus) else None,
        simulated_gpus=resources.get("simulated_gpus") is True,
        components=components,
        initial_replicas=initial,
    )


def _component_outline(name: str, table: Mapping[str, Any]) -> ComponentSpec | None:
    value = table.get("role")
    if not isinstance(value, str) or value not in Role.__members__.values():
        return None
    role = Role(value)
    counts = {
        key: table.get(key, default)
        for key, default in (
            ("min_replicas", DEFAULT_MIN_REPLICAS),
            ("max_replicas", DEFAULT_MAX_REPLICAS),
            ("gpus_per_replica", DEFAULT_GPUS_PER_REPLICA),
        )
    }
    sub_type = table.get("sub_component_type")
    depends_on = table.get("depends_on", [])
    if not all(_is_int(value) for value in counts.values()) or not isinstance(depends_on, list):
        return None
    return ComponentSpec(
        name=name,
        role=role,
        sub_component_type=sub_component_type_of(role, sub_type if isinstance(sub_type, str) else None),
        min_replicas=counts["min_replicas"],
        max_replicas=counts["max_replicas"],
        gpus_per_replica=counts["gpus_per_replica"],
        depends_on=tuple(str(dep) for dep in depends_on),
    )


def _table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def problems_in(text: str, source: str = "<graph>") -> list[Problem]:
    """Every problem :func:`~planner_tui.config.parse_graph` finds in graph-file ``text`` (none: valid).

    The validating models load here (pydantic), not with this module.
    """
    from planner_tui.config.loader import parse_graph

    try:
        parse_graph(text, source)
    except ConfigError as exc:
        return exc.problems
    return []
