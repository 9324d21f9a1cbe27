"""The status line above the footer: connector trouble, the last action's result, the filter."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


class StatusLine(Static):
    """One line: an error (red) stays until the next good snapshot; otherwise a short info message."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; color: $foreground-muted; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id)
        self.error: str | None = None
        self.info: str = ""
        self.filter: str = ""

    def set_error(self, message: str | None) -> None:
        """Show (or clear, with None) a problem with the source."""
        self.error = message
        self._redraw()

    def set_info(self, message: str) -> None:
        """Show a short informational message (the last action's result)."""
        self.info = message
        self._redraw()

    def set_filter(self, text: str) -> None:
        """Show the active filter."""
        self.filter = text
        self._redraw()

    def _redraw(self) -> None:
        parts: list[str | tuple[str, str]] = []
        if self.error:
            parts += [("✖ ", "bold $error"), (self.error, "$error")]
        elif self.info:
            parts.append((self.info, "$foreground"))
        if self.filter:
            parts += ["   ", ("filter: ", "$foreground-muted"), (self.filter, "bold $accent")]
        self.update(Content.assemble(*parts), layout=False)  # one line, always: no relayout
