"""Components that can no longer run: every replica failed (crash-restart limit reached, or unstartable).

A headless run (``planner-tui plan``) ends on these instead of holding forever: nothing the planner
decides can bring a component back whose replicas all failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from planner_tui.model.replicas import Phase
from planner_tui.model.snapshot import Snapshot

#: longest reason quoted per replica (a last stderr line can be long)
MAX_REASON_CHARS = 300


@dataclass(frozen=True, slots=True)
class ComponentFailure:
    """Component ``component`` has replicas, all failed; ``reasons`` are ``replica: reason`` each."""

    component: str
    reasons: tuple[str, ...]

    @property
    def message(self) -> str:
        """``component 'decode' cannot run: every replica failed (decode-0: cannot start: ...)``."""
        return f"component {self.component!r} cannot run: every replica failed ({'; '.join(self.reasons)})"


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


def failed_components(snapshot: Snapshot) -> list[ComponentFailure]:
    """Components of ``snapshot`` with at least one replica and no replica that is not failed."""
    failures = []
    for name, state in snapshot.components.items():
        if state.replicas and all(r.phase is Phase.FAILED for r in state.replicas):
            reasons = tuple(_shorten(f"{r.name}: {r.reason or 'no reason given'}") for r in state.replicas)
            failures.append(ComponentFailure(name, reasons))
    return failures
