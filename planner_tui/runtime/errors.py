"""Errors of the runtime layer."""

from __future__ import annotations


class ReadOnlyError(Exception):
    """An action that would change the graph or the planner was refused: the session is read-only."""

    def __init__(self, action: str, hint: str = "start it without --read-only to act") -> None:
        self.action = action
        super().__init__(f"{action} refused: this session is read-only ({hint})")
