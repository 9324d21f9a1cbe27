"""The decision log: the latest planner decisions with their reasons, coloured by outcome."""

from __future__ import annotations

from collections.abc import Sequence

from textual.content import Content

from planner_tui.model import ComponentDecision, Decision, Outcome
from planner_tui.model.text import plural
from planner_tui.tui import render
from planner_tui.tui.widgets.live_panel import LivePanel

OUTCOME_STYLES = {
    Outcome.APPLIED: "bold $success",
    Outcome.ADVISORY: "bold $warning",
    Outcome.PINNED: "bold $accent",
    Outcome.FAILED: "bold $error",
    Outcome.PAUSED: "$foreground-muted",
    Outcome.UNCHANGED: "$foreground-muted",
    Outcome.PENDING: "$secondary",
}


def decision_line(decision: Decision, item: ComponentDecision, now: float) -> Content:
    """``  35s ago  APPLIED   decode 2->3: KV load 0.94 > 0.90 for 3 intervals``."""
    age = render.duration(now - decision.timestamp)
    parts: list[str | tuple[str, str]] = [
        (f"{age:>7} ago  ", "$foreground-muted"),
        (f"{item.outcome.value.upper():<9}", OUTCOME_STYLES[item.outcome]),
        " ",
        (item.reason, "$foreground" if item.outcome is not Outcome.UNCHANGED else "$foreground-muted"),
    ]
    if item.limits:
        parts.append(("  [" + ", ".join(f"{lim.limit}: {lim.detail}" for lim in item.limits) + "]", "$secondary"))
    if item.error:
        parts.append((f"  ({item.error})", "$error"))
    return Content.assemble(*parts)


def listed(decisions: Sequence[Decision]) -> tuple[int, int]:
    """``(listed, held)``: component decisions the panel lists, and HOLDs (target = current) it leaves out."""
    held = sum(item.outcome is Outcome.UNCHANGED for decision in decisions for item in decision.components)
    return sum(len(decision.components) for decision in decisions) - held, held


def title(decisions: Sequence[Decision]) -> str:
    """``Decisions · 5 · 12 HOLDs hidden``: the count is of the entries listed (newest first, as many as fit)."""
    shown, held = listed(decisions)
    return f"Decisions · {shown}" + (f" · {plural(held, 'HOLD')} hidden" if held else "")


class DecisionLog(LivePanel[tuple[Sequence[Decision], float]]):
    """Newest decision first; as many as fit the panel. HOLDs (nothing to change) are counted, not listed."""

    DEFAULT_CSS = """
    DecisionLog {
        border: round $border-blurred; border-title-color: $primary; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.border_title = "Decisions"

    def show(self, decisions: Sequence[Decision], now: float) -> None:
        """Redraw with ``decisions`` (oldest first, as the Session keeps them)."""
        self._feed((decisions, now))

    def _draw(self) -> None:
        assert self._inputs is not None
        decisions, now = self._inputs
        rows = max(1, self.content_region.height or 6)
        key = (len(decisions), decisions[-1].timestamp if decisions else None, int(now), rows)
        if key == self._drawn:
            return
        self._drawn = key
        lines: list[Content] = []
        for decision in reversed(decisions):
            for item in decision.components:
                if item.outcome is Outcome.UNCHANGED:
                    continue  # every tick decides "no change" for most components: not news
                lines.append(decision_line(decision, item, now))
                if len(lines) >= rows:
                    break
            if len(lines) >= rows:
                break
        if not lines:
            quiet = f"{plural(len(decisions), 'tick')}, no change decided" if decisions else "no decisions yet"
            lines.append(Content.styled(f"{quiet}: the planner decides every interval", "$foreground-muted"))
        self.border_title = title(decisions)
        self.show_content(Content("\n").join(lines))
