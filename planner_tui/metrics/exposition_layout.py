"""Parsing one target's expositions tick after tick by reusing the layout of the previous one.

An endpoint answers the same text every scrape but for its numbers: the same comments, series and
label sets in the same order. Once a text has been read by :func:`parse_fast`, its layout becomes one
regular expression, the text with every value replaced by a group, and the next scrape is a single
``fullmatch`` plus a ``float`` per wanted value: about a fifth of the cost of the full parse. A text
whose layout changed (a new series, a new label value, a line added or gone) does not match and is
parsed in full again, so the samples are always those :func:`parse_exposition` would give.

Compiling a layout costs about 2 µs and 100 bytes of memory per byte of text (a 40 KB exposition:
~100 ms), so a long one is handed to the parser's ``compile`` function (the
:class:`~planner_tui.metrics.scrape.Scraper` gives its own worker thread) while its target is still
parsed in full: the event loop never waits for it. Short ones (a few ms), and every one when the
parser has no ``compile``, are compiled on the spot. A text over
:data:`MAX_LAYOUT_TEXT` characters gets no layout at all (a 60 MB text took 6 GB to compile): it is
parsed in full every time.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Callable, Collection
from concurrent.futures import Future
from dataclasses import dataclass
from typing import NamedTuple

from planner_tui.metrics.exposition import (
    SAMPLE_LINE,
    Sample,
    index_samples,
    labels_of,
    parse_fast,
    parse_with_prometheus_client,
)

# A wanted value: underscores are refused here (the full parse decides about them); any other
# value is checked for layout only, as parse_fast does.
_WANTED_VALUE = r"([^ \t\n_]+)"
_OTHER_VALUE = r"[^ \t\n]+"
_LINE_END = r"(?:[ \t]+-?\d+)?[ \t]*"  # an optional timestamp (it changes every scrape) and blanks
_REBUILD_EVERY = 64  # a target whose layout keeps changing is only given a new layout now and then
_new_sample = functools.partial(tuple.__new__, Sample)
_INLINE_COMPILE = 2048  # pattern characters compiled on the spot (a few ms); longer ones in a thread
#: the longest text a layout is built for (its pattern takes ~25 MB and ~0.5 s to compile)
MAX_LAYOUT_TEXT = 128 * 1024
#: compiles a layout's pattern off the caller's thread: a future of ``re.compile(source)``
Compile = Callable[[str], "Future[re.Pattern[str]]"]


class LayoutDraft(NamedTuple):
    """A layout before its pattern is compiled: the pattern's source and what the values are."""

    source: str
    wanted: Collection[str] | None
    names: tuple[str, ...]
    labels: tuple[dict[str, str], ...]
    runs: tuple[tuple[str, int, int], ...]

    def compiled(self, pattern: re.Pattern[str]) -> Layout:
        """The layout, with its pattern compiled from :attr:`source`."""
        return Layout(pattern, self.wanted, self.names, self.labels, self.runs)


@dataclass(frozen=True, slots=True)
class Layout:
    """A text's layout: a pattern matching the same text with any values, and the wanted series."""

    pattern: re.Pattern[str]
    wanted: Collection[str] | None
    names: tuple[str, ...]
    labels: tuple[dict[str, str], ...]
    runs: tuple[tuple[str, int, int], ...]  # (name, start, end) of each run of samples of one name

    @staticmethod
    def draft(text: str, wanted: Collection[str] | None) -> LayoutDraft:
        """The layout of ``text``, which :func:`parse_fast` has accepted (it is not checked again),
        before its pattern is compiled (the costly part)."""
        parts: list[str] = []
        names: list[str] = []
        labels: list[dict[str, str]] = []
        position = 0
        for match in SAMPLE_LINE.finditer(text):
            start = match.start(3)
            parts.append(re.escape(text[position:start]))
            name, label_text = match.group(1), match.group(2)
            if wanted is None or name in wanted:
                parts.append(_WANTED_VALUE)
                names.append(name)
                labels.append((labels_of(label_text) if label_text else None) or {})
            else:
                parts.append(_OTHER_VALUE)
            parts.append(_LINE_END)
            position = match.end()
        parts.append(re.escape(text[position:]))
        runs: list[tuple[str, int, int]] = []
        for index, name in enumerate(names):
            if runs and runs[-1][0] == name:
                runs[-1] = (name, runs[-1][1], index + 1)
            else:
                runs.append((name, index, index + 1))
        return LayoutDraft("".join(parts), wanted, tuple(names), tuple(labels), tuple(runs))

    def index(self, samples: list[Sample]) -> dict[str, list[Sample]]:
        """``samples`` (this layout's, none left out) grouped by name: slices, not a pass over each."""
        by_name: dict[str, list[Sample]] = {}
        for name, start, end in self.runs:
            run = by_name.get(name)
            if run is None:
                by_name[name] = samples[start:end]
            else:
                run.extend(samples[start:end])
        return by_name

    def values(self, text: str) -> list[float] | None:
        """The wanted values of ``text`` in this layout's order if it has this layout, else None."""
        match = self.pattern.fullmatch(text)
        if match is None:
            return None
        try:
            return list(map(float, match.groups()))
        except ValueError:
            return None

    def samples(self, values: list[float]) -> list[Sample]:
        """The samples these values make (NaN means "no value": those samples are left out)."""
        if any(map(math.isnan, values)):
            return [_new_sample(s) for s in zip(self.names, self.labels, values, strict=True) if s[2] == s[2]]
        return list(map(_new_sample, zip(self.names, self.labels, values, strict=True)))


class Parsed:
    """One parsed exposition: its samples and, when a layout was reused, that layout and its values.

    With a layout the samples are only made when asked for: a reader that knows the layout can take
    the values (one float per wanted sample, in the layout's order) as they are.
    """

    __slots__ = ("_by_name", "_complete", "_samples", "layout", "nan_free", "values")

    def __init__(
        self, samples: list[Sample] | None = None, layout: Layout | None = None, values: list[float] | None = None
    ) -> None:
        self._samples = samples
        self._by_name: dict[str, list[Sample]] | None = None
        self._complete: bool | None = None
        self.layout = layout
        self.values = values
        #: True when the text has no NaN value (so a name with no sample has no series at all); set by
        #: the scraper, None when unknown
        self.nan_free: bool | None = None

    @property
    def complete(self) -> bool:
        """True when the layout's every sample has a value (no NaN left one out)."""
        if self._complete is None:
            self._complete = self.values is not None and not any(map(math.isnan, self.values))
        return self._complete

    @property
    def samples(self) -> list[Sample]:
        """The samples, in the text's order."""
        if self._samples is None:
            assert self.layout is not None and self.values is not None
            self._samples = self.layout.samples(self.values)
        return self._samples

    def by_name(self) -> dict[str, list[Sample]]:
        """The samples grouped by name (by the layout's runs when it can)."""
        if self._by_name is None:
            if self.layout is not None and self.complete:
                self._by_name = self.layout.index(self.samples)
            else:
                self._by_name = index_samples(self.samples)
        return self._by_name


class TargetParser:
    """Parses the successive expositions of one scrape target (see the module's docstring).

    ``compile`` compiles a long layout's pattern elsewhere (a worker thread); without it every layout
    is compiled on the spot, in the caller's thread.
    """

    __slots__ = ("_compile", "_layout", "_misses", "_pending")

    def __init__(self, compile: Compile | None = None) -> None:
        self._compile = compile
        self._layout: Layout | None = None
        self._pending: tuple[LayoutDraft, Future[re.Pattern[str]]] | None = None  # compiling in a thread
        self._misses = 0  # full parses in a row: layouts that were not reused

    def parse(self, text: str, wanted: Collection[str] | None = None) -> list[Sample]:
        """Samples of ``text``, as :func:`parse_exposition` gives them. Raises ValueError likewise."""
        return self.read(text, wanted).samples

    @property
    def compiling(self) -> Future[re.Pattern[str]] | None:
        """The layout being compiled in a worker thread, if any (used from the next :meth:`read` on)."""
        return None if self._pending is None else self._pending[1]

    def read(
        self,
        text: str,
        wanted: Collection[str] | None = None,
        max_series: int | None = None,
        stop: threading.Event | None = None,
    ) -> Parsed:
        """``text`` parsed: through the previous layout when it still fits, else in full.

        Raises ValueError for a text that does not parse (:class:`~planner_tui.metrics.exposition.TooManySeries`
        over ``max_series`` sample lines), :class:`~planner_tui.metrics.exposition.ParseAbandoned` once
        ``stop`` is set. Not thread-safe: one call at a time (it may run in a worker thread).
        """
        if self._pending is not None and self._pending[1].done():
            draft, compiling = self._pending
            self._pending = None
            if not compiling.cancelled() and compiling.exception() is None:
                self._layout = draft.compiled(compiling.result())
        layout = self._layout
        if layout is not None and (layout.wanted is wanted or layout.wanted == wanted):
            values = layout.values(text)
            if values is not None:
                self._misses = 0
                return Parsed(layout=layout, values=values)
        fast = parse_fast(text, wanted, max_series, stop)
        if fast is None:
            self._layout = None
            return Parsed(parse_with_prometheus_client(text, wanted, max_series, stop))
        self._misses += 1
        if len(text) > MAX_LAYOUT_TEXT:
            self._layout = None  # no layout for a long text: its pattern would cost more than it saves
        elif self._pending is None and (self._misses <= 3 or self._misses % _REBUILD_EVERY == 0):
            draft = Layout.draft(text, wanted)
            if len(draft.source) <= _INLINE_COMPILE or self._compile is None:
                self._layout = draft.compiled(re.compile(draft.source))
            else:
                self._layout = None
                self._pending = (draft, self._compile(draft.source))
        return Parsed(fast)

    def close(self) -> None:
        """Give up a layout still waiting to be compiled."""
        if self._pending is not None:
            self._pending[1].cancel()
            self._pending = None
