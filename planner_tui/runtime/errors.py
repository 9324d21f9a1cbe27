"""Errors a front end meets calling the runtime: its own, and the connector's that actions pass on."""

from __future__ import annotations

from planner_tui.connectors.errors import ComponentNotFound, ConnectorError, ScalingRefused

__all__ = ["ComponentNotFound", "ConnectorError", "ReadOnlyError", "ScalingRefused"]


class ReadOnlyError(Exception):
    """An action that would change the graph or the planner was refused: the session is read-only."""

    def __init__(self, action: str, hint: str = "start it without --read-only to act") -> None:
        self.action = action
        super().__init__(f"{action} refused: this session is read-only ({hint})")
