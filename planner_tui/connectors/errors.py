"""Typed connector errors that carry what a person needs to fix the problem."""

from __future__ import annotations

from collections.abc import Iterable


class ConnectorError(Exception):
    """A connector operation failed; the message says which operation, where, and why."""


class ComponentNotFound(ConnectorError, KeyError):
    """No component has this name (or sub_component_type); lists the known names."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        self.name = name
        self.known = sorted(known)
        super().__init__(f"unknown component {name!r}; known components: {', '.join(self.known) or '(none)'}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class ScalingRefused(ConnectorError):
    """A scale request that cannot be satisfied (bounds, GPUs, ports); nothing was changed."""
