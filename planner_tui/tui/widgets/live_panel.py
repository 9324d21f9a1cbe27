"""The base of the dashboard's live panels: keep the latest inputs, draw them only when they show."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static

InputsT = TypeVar("InputsT")
_UNSET = object()


class _TitleRepaintedOnChange:
    """``border_title`` that repaints the panel only when the title changed.

    Textual repaints the whole widget on every assignment, even of the same title; the panels set their
    title on each draw, so an idle dashboard repainted every panel every second for nothing.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._given = "_border_title_given"

    def __set_name__(self, owner: type, name: str) -> None:
        self._given = f"_{name}_given"

    def __get__(self, obj: Widget | None, objtype: type | None = None) -> Any:
        return self if obj is None else self._inner.__get__(obj, objtype)

    def __set__(self, obj: Widget, title: object) -> None:
        if obj.__dict__.get(self._given, _UNSET) == title:
            return
        obj.__dict__[self._given] = title
        self._inner.__set__(obj, title)


class LivePanel(Static, Generic[InputsT]):
    """A panel fed by :meth:`_feed`; it redraws while visible and on resize, never while hidden.

    Subclasses implement :meth:`_draw` from ``self._inputs`` and may use ``self._drawn`` to skip a
    redraw whose key did not change.
    """

    border_title = _TitleRepaintedOnChange(Widget.__dict__["border_title"])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._inputs: InputsT | None = None
        self._drawn: tuple[object, ...] | None = None
        self._lines: int | None = None
        self._shown: tuple[str, object] | None = None

    def show_content(self, content: Content) -> None:
        """Draw ``content``: nothing when it did not change; a new layout only when its line count changed.

        The panels do not wrap text and take their width from the layout, so only a change of line count
        can change their size; a relayout of the whole screen every second would cost most of the
        dashboard's idle CPU.
        """
        shown = (content.plain, content.spans)
        if shown == self._shown:
            return  # the same text and styles: nothing to repaint
        self._shown = shown
        lines = content.plain.count("\n") + 1
        self.update(content, layout=lines != self._lines)
        self._lines = lines

    def _feed(self, inputs: InputsT) -> None:
        """Remember ``inputs`` and redraw now if the panel is on the current screen and displayed."""
        self._inputs = inputs
        if self.display and self.screen.is_current:
            self._draw()

    def on_resize(self) -> None:
        """The layout follows the panel's size."""
        if self._inputs is not None:
            self._draw()

    def _draw(self) -> None:
        raise NotImplementedError
