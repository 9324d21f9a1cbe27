"""Component details (``d``): decision history, signals, configuration and topology neighbours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from planner_tui.model import Decision, Snapshot
from planner_tui.tui import render
from planner_tui.tui.widgets.decision_log import decision_line

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig


def _section(title: str, lines: Sequence[Content | str]) -> Content:
    body = [Content.styled(title, "bold $primary")]
    body += [line if isinstance(line, Content) else Content(line) for line in lines]
    return Content("\n").join(body)


def details_text(
    component: str, graph: GraphConfig, snapshot: Snapshot | None, decisions: Sequence[Decision], now: float
) -> Content:
    """Everything known about ``component``, as styled text."""
    config = graph.components.get(component)
    sections: list[Content] = []
    history = [
        decision_line(d, item, now) for d in reversed(decisions) for item in d.components if item.component == component
    ]
    sections.append(_section("Decision history (newest first)", history[:20] or ["  none yet"]))
    signals: list[Content | str] = []
    if snapshot is not None:
        for value in snapshot.signals:
            if value.component == component:
                signals.append(f"  {value.signal.value:<14} {render.number(value.value, 3):>10}{value.marks()}")
        for value in snapshot.replica_signals:
            if value.component == component:
                label = f"{value.replica}.{value.signal.value}"
                signals.append(f"  {label:<24} {render.number(value.value, 3):>10}")
    sections.append(_section("Signals", signals or ["  none collected"]))
    if config is not None:
        dumped = config.model_dump(mode="json", exclude_defaults=True)
        sections.append(_section("Configuration", [f"  {key} = {value!r}" for key, value in dumped.items()]))
        upstream = config.depends_on
        downstream = [name for name, other in graph.components.items() if component in other.depends_on]
        sections.append(
            _section(
                "Topology",
                [
                    f"  depends on:  {', '.join(upstream) or '-'}",
                    f"  needed by:   {', '.join(downstream) or '-'}",
                ],
            )
        )
    return Content("\n\n").join(sections)


class DetailsScreen(ModalScreen[None]):
    """A scrollable description of one component."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,d", "close", "close")]

    def __init__(self, component: str, text: Content) -> None:
        super().__init__(classes="dialog-screen")
        self.component = component
        self.text = text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog details"):
            yield Label(f"Component {self.component}", classes="dialog-title")
            with VerticalScroll():
                yield Static(self.text, id="details-body")
            yield Label("esc closes", classes="dialog-note")

    def action_close(self) -> None:
        """Close the details."""
        self.dismiss(None)
