"""Placeholders in component commands, env and URLs: ``{replica}``, ``{port}``, ``{gpus}`` ...

``{ports.NAME}`` is the fixed port of component NAME (e.g. workers finding the frontend).
Literal braces are written ``{{`` and ``}}``.
"""

from __future__ import annotations

import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

PLACEHOLDERS: dict[str, str] = {
    "replica": "the replica's index within its component (0, 1, ...)",
    "port": "the port allocated to this replica",
    "gpus": "comma-separated GPU indices given to this replica (empty without GPUs)",
    "namespace": "the graph's namespace",
    "component": "the component's name",
    "python": "the graph's python setting, else the Python interpreter running planner-tui",
    "ports.NAME": "the fixed port of component NAME",
}

_FORMATTER = string.Formatter()


def placeholders_in(text: str) -> list[str]:
    """The placeholder names used in ``text`` (``ports.frontend`` kept whole).

    Raises ValueError for malformed braces, with the reason.
    """
    return [name for _literal, name, _spec, _conv in _FORMATTER.parse(text) if name is not None]


def _field_problem(name: str, spec: str | None, conversion: str | None) -> str | None:
    """Why the placeholder ``{name!conversion:spec}`` is not allowed, or None for a bare known name."""
    shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
    if conversion:
        return f"conversions are not allowed in placeholders: {shown}; write the bare name, e.g. {{port}}"
    if spec:
        return f"format specs are not allowed in placeholders: {shown}; write the bare name, e.g. {{port}}"
    if name in PLACEHOLDERS or _port_reference(name) is not None:
        return None
    known = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
    return f"unknown placeholder {shown}; known placeholders: {known}"


def _port_reference(name: str) -> str | None:
    """``NAME`` of a ``ports.NAME`` placeholder (one plain component name), else None."""
    if not name.startswith("ports."):
        return None
    ref = name[6:]
    return ref if ref and all(c.isalnum() or c == "-" for c in ref) else None


def check_template(text: str) -> str | None:
    """Return a message describing the first bad placeholder in ``text``, or None if it is fine.

    Only bare placeholder names are allowed: no format specs (``{port:>9}``), conversions
    (``{port!r}``), attribute or index access, so rendering cannot build more than the values.
    """
    try:
        fields = list(_FORMATTER.parse(text))
    except ValueError as exc:
        return f"malformed placeholder in {text!r}: {exc}; write literal braces as '{{{{' and '}}}}'"
    for _literal, name, spec, conversion in fields:
        if name is not None:
            problem = _field_problem(name, spec, conversion)
            if problem:
                return problem
    return None


def referenced_ports(text: str) -> list[str]:
    """Component names referenced as ``{ports.NAME}`` in ``text``."""
    try:
        refs = [_port_reference(n) for n in placeholders_in(text)]
    except ValueError:
        return []
    return [r for r in refs if r is not None]


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
        """Substitute this replica's values into ``text``.

        Raises ValueError for a placeholder :func:`check_template` refuses (a spec, a conversion,
        an unknown name) or a ``{ports.NAME}`` without a fixed port.
        """
        values = {
            "replica": str(self.replica),
            "port": "" if self.port is None else str(self.port),
            "gpus": ",".join(str(g) for g in self.gpus),
            "namespace": self.namespace,
            "component": self.component,
            "python": self.python,
        }
        out: list[str] = []
        for literal, name, spec, conversion in _FORMATTER.parse(text):
            out.append(literal)
            if name is None:
                continue
            problem = _field_problem(name, spec, conversion)
            if problem:
                raise ValueError(problem)
            ref = _port_reference(name)
            if ref is None:
                out.append(values[name])
            elif ref in self.ports:
                out.append(str(self.ports[ref]))
            else:
                raise ValueError(f"{{{name}}}: component {ref!r} has no fixed port")
        return "".join(out)
