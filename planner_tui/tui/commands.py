"""The command palette provider: every registry action the session allows, searchable by its help text."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from textual.command import DiscoveryHit, Hit, Hits, Provider

from planner_tui.tui.actions import ACTIONS, APP_ACTIONS, DashboardAction, allowed

if TYPE_CHECKING:
    from planner_tui.tui.app import DashboardApp


class ActionCommands(Provider):
    """Registry actions in the palette; read-only mode leaves out the ones that change anything."""

    def _actions(self) -> list[DashboardAction]:
        app: DashboardApp = self.app  # type: ignore[assignment]
        return [a for a in (*ACTIONS, *APP_ACTIONS) if a.id != "command_palette" and allowed(a, app.read_only)]

    def _run(self, action_id: str) -> None:
        app: DashboardApp = self.app  # type: ignore[assignment]
        app.run_registry_action(action_id)

    async def discover(self) -> Hits:
        """All allowed actions, before anything is typed."""
        for action in self._actions():
            yield DiscoveryHit(action.help, partial(self._run, action.id), help=f"key {action.display_key}")

    async def search(self, query: str) -> Hits:
        """Allowed actions whose help text matches ``query``."""
        matcher = self.matcher(query)
        for action in self._actions():
            score = matcher.match(action.help)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(action.help),
                    partial(self._run, action.id),
                    help=f"key {action.display_key}",
                )
