"""Placeholders in component commands, env and URLs: ``{replica}``, ``{port}``, ``{gpus}`` ...

``{ports.NAME}`` is the fixed port of component NAME (e.g. workers finding the frontend).
Literal braces are written ``{{`` and ``}}``.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace

PLACEHOLDERS: dict[str, str] = {
    "replica": "the replica's index within its component (0, 1, ...)",
    "port": "the port allocated to this replica",
    "gpus": "comma-separated GPU indices given to this replica (empty without GPUs)",
    "namespace": "the graph's namespace",
    "component": "the component's name",
    "python": "the Python interpreter running planner-tui",
    "ports.NAME": "the fixed port of component NAME",
}

_FORMATTER = string.Formatter()


def placeholders_in(text: str) -> list[str]:
    """The placeholder names used in ``text`` (``ports.frontend`` kept whole).

    Raises ValueError for malformed braces, with the reason.
    """
    names: list[str] = []
    for _literal, name, _spec, _conv in _FORMATTER.parse(text):
        if name is not None:
            names.append(name)
    return names


def check_template(text: str) -> str | None:
    """Return a message describing the first bad placeholder in ``text``, or None if it is fine."""
    try:
        names = placeholders_in(text)
    except ValueError as exc:
        return f"malformed placeholder in {text!r}: {exc}; write literal braces as '{{{{' and '}}}}'"
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    for name in names:
        if name in PLACEHOLDERS:
            continue
        if name.startswith("ports.") and name.count(".") == 1 and name[6:]:
            continue
        return f"unknown placeholder {{{name}}}; known placeholders: {known}"
    return None


def referenced_ports(text: str) -> list[str]:
    """Component names referenced as ``{ports.NAME}`` in ``text``."""
    try:
        return [n[6:] for n in placeholders_in(text) if n.startswith("ports.")]
    except ValueError:
        return []


@dataclass(frozen=True, slots=True)
class ReplicaContext:
    """The values substituted into one replica's templates."""

    namespace: str
    component: str
    replica: int
    port: int | None = None
    gpus: tuple[int, ...] = ()
    ports: Mapping[str, int] = field(default_factory=dict)
    python: str = sys.executable

    def render(self, text: str) -> str:
        """Substitute this replica's values into ``text``."""
        return text.format(
            replica=self.replica,
            port="" if self.port is None else self.port,
            gpus=",".join(str(g) for g in self.gpus),
            namespace=self.namespace,
            component=self.component,
            python=self.python,
            ports=SimpleNamespace(**self.ports),
        )
