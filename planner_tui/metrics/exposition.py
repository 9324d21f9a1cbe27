"""Parsing the Prometheus text exposition format into :class:`Sample` records.

``prometheus_client.parser`` is the reference: every text is read exactly as it reads it. Since
it costs ~0.4 ms per demo worker's text and ~4.6 ms per vLLM-sized one (36 KB: a 1 s tick over 64
such replicas would spend 29% of a core on it; ``benchmarks/bench_scrape_paths.py``), plain
expositions take a fast path (~0.3 ms for the same text) built on whole-text regular expressions, and anything the
fast path is not sure about (escapes, quoted names, braces in label values, exemplars, a counter
family renamed by the reference parser) is handed to prometheus_client. A property test checks
that both give the same samples.

Both are bounded for hostile texts: ``max_series`` refuses a text with more sample lines
(:class:`TooManySeries`) before any sample is made, a line over :data:`MAX_LINE` characters is
refused (:class:`LineTooLong`: the reference parser takes seconds over a megabyte-long one), and a
long text is read in pieces of about 64 KiB, between which ``stop`` (a :class:`threading.Event`) is
checked, so that a parse running in a worker thread gives the interpreter back regularly and ends
soon after it is abandoned (:class:`ParseAbandoned`).
"""

from __future__ import annotations

import io
import math
import re
import threading
from collections.abc import Collection, Iterator, Sequence
from typing import NamedTuple, TextIO, cast


class Sample(NamedTuple):
    """One exposition sample: ``name`` as written (``foo_total``, ``foo_bucket`` ...), labels, value.

    A named tuple (cheap to make: an endpoint yields dozens per scrape). ``labels`` is shared between
    samples of the same series: treat it as read-only.
    """

    name: str
    labels: dict[str, str]
    value: float


_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
#: one plain sample line: groups name, label text (without braces), value
SAMPLE_LINE = re.compile(
    # name, optional {labels} (quoted values may hold any character but quote, backslash, newline),
    # value, optional integer timestamp; the label part is an unrolled loop, which keeps it fast
    rf'^[ \t]*({_NAME})(?:\{{([^}}"\\\n]*(?:"[^"\\\n]*"[^}}"\\\n]*)*)\}})?[ \t]+([^ \t\n]+)(?:[ \t]+-?\d+)?[ \t]*$',
    re.MULTILINE,
)
_NAME_ONLY = re.compile(rf"^{_NAME}$")
_LABEL_PAIR = r'[ \t]*[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*"[^"\\]*"[ \t]*'
_LABELS_WHOLE = re.compile(rf"^(?:{_LABEL_PAIR},)*(?:{_LABEL_PAIR})?[ \t]*$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\]*)"')

_FAMILY_TYPES = frozenset(
    ("counter", "gauge", "summary", "histogram", "gaugehistogram", "unknown", "untyped", "info", "stateset")
)
_label_cache: dict[str, dict[str, str]] = {}
_LABEL_CACHE_SIZE = 8192
_PIECE = 64 * 1024  # characters read between two checks of ``stop`` (a few ms of work)
_LINES_BETWEEN_CHECKS = 1024  # the same for the reference parser, which reads line by line


class TooManySeries(ValueError):
    """An exposition with more sample lines than the limit (``count``: how many were counted, at least)."""

    def __init__(self, count: int, limit: int) -> None:
        self.count = count
        self.limit = limit
        super().__init__(f"more than {limit} series (counted {count} sample lines so far)")

    def __reduce__(self) -> tuple[type, tuple[int, int]]:
        return type(self), (self.count, self.limit)


#: the longest line read (a sample with a few dozen long labels is a few KiB)
MAX_LINE = 64 * 1024


class LineTooLong(ValueError):
    """A line over :data:`MAX_LINE` characters."""

    def __init__(self, length: int) -> None:
        self.length = length
        super().__init__(f"a line of {length} characters (the limit is {MAX_LINE})")

    def __reduce__(self) -> tuple[type, tuple[int]]:
        return type(self), (self.length,)


class ParseAbandoned(Exception):
    """The parse was told to stop (its scrape is past its deadline)."""


def _check(stop: threading.Event | None) -> None:
    if stop is not None and stop.is_set():
        raise ParseAbandoned("parse abandoned: past the scrape's deadline")


def _pieces(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` of consecutive pieces of ``text`` of about :data:`_PIECE` characters, each
    ending just after a newline (or at the end), so that no line is split."""
    size = len(text)
    start = 0
    while start < size:
        end = text.find("\n", start + _PIECE)
        end = size if end < 0 else end + 1
        yield start, end
        start = end


def labels_of(text: str) -> dict[str, str] | None:
    """Parsed label set of a plain label text (cached: the same series come back every scrape), None
    when the text is not plain (escapes, odd spacing: prometheus_client must read it). Treat as read-only."""
    cached = _label_cache.get(text)
    if cached is not None:
        return cached
    if not _LABELS_WHOLE.match(text):
        return None
    labels = dict(_LABEL.findall(text))
    if len(_label_cache) >= _LABEL_CACHE_SIZE:
        _label_cache.clear()
    _label_cache[text] = labels
    return labels


def parse_fast(
    text: str,
    wanted: Collection[str] | None = None,
    max_series: int | None = None,
    stop: threading.Event | None = None,
) -> list[Sample] | None:
    """The samples of a plain exposition, or None when prometheus_client's parser must decide.

    With ``wanted`` only samples of those names are made (the lines of the others are still checked
    for their layout, not for their values). Raises :class:`TooManySeries` for more than
    ``max_series`` sample lines, :class:`LineTooLong` for a line over :data:`MAX_LINE` characters,
    :class:`ParseAbandoned` once ``stop`` is set.
    """
    counter_families: set[str] = set()
    typed: set[str] = set()
    sample_lines = 0
    pieces = list(_pieces(text))
    for start, end in pieces:
        _check(stop)
        for line in text[start:end].split("\n"):
            if len(line) > MAX_LINE:
                raise LineTooLong(len(line))
            stripped = line.strip()
            if not stripped:
                continue
            if stripped[0] != "#":
                sample_lines += 1
                continue
            parts = stripped.split(None, 3)
            if len(parts) < 3 or parts[1] not in ("TYPE", "HELP"):
                continue  # a comment
            kind, name = parts[1], parts[2]
            family_type = parts[3] if len(parts) > 3 else ""
            if not _NAME_ONLY.match(name) or (kind == "TYPE" and family_type not in _FAMILY_TYPES):
                return None
            if kind == "TYPE":
                if name in typed:
                    return None  # a family typed twice: the reference parser's last type applies to all of it
                typed.add(name)
                if family_type == "counter" and not name.endswith("_total"):
                    counter_families.add(name)
        if max_series is not None and sample_lines > max_series:
            raise TooManySeries(sample_lines, max_series)
    if len(pieces) == 1:
        matches = SAMPLE_LINE.findall(text)
    else:
        matches = []
        for start, end in pieces:  # one findall holds the interpreter for its whole text: a piece at a time
            _check(stop)
            matches += SAMPLE_LINE.findall(text, start, end)
    if len(matches) != sample_lines:
        return None  # some line is not a plain sample, comment or blank
    samples: list[Sample] = []
    append = samples.append
    cached_labels = _label_cache.get
    new_sample = tuple.__new__  # Sample(...) without its Python-level __new__: dozens per scrape
    for name, label_text, value_text in matches:
        if wanted is not None and name not in wanted and name not in counter_families:
            continue
        if name in counter_families or "_" in value_text:
            return None  # renamed by the reference parser / not a valid value there
        try:
            value = float(value_text)
        except ValueError:
            return None
        if label_text:
            labels = cached_labels(label_text) or labels_of(label_text)
            if labels is None:
                return None
        else:
            labels = {}
        if value == value:  # NaN means "no value"
            append(new_sample(Sample, (name, labels, value)))
    return samples


def index_samples(samples: Sequence[Sample]) -> dict[str, list[Sample]]:
    """Samples grouped by name, in their order."""
    by_name: dict[str, list[Sample]] = {}
    for sample in samples:
        by_name.setdefault(sample.name, []).append(sample)
    return by_name


def _lines(text: str, max_series: int | None, stop: threading.Event | None) -> Iterator[str]:
    """The lines of ``text``, counting sample lines against ``max_series`` and checking ``stop``."""
    count = 0
    for number, line in enumerate(io.StringIO(text)):
        if number % _LINES_BETWEEN_CHECKS == 0:
            _check(stop)
        if len(line) > MAX_LINE:
            raise LineTooLong(len(line))
        if max_series is not None:
            stripped = line.strip()
            if stripped and stripped[0] != "#":
                count += 1
                if count > max_series:
                    raise TooManySeries(count, max_series)
        yield line


def parse_with_prometheus_client(
    text: str,
    wanted: Collection[str] | None = None,
    max_series: int | None = None,
    stop: threading.Event | None = None,
) -> list[Sample]:
    """Samples as prometheus_client's parser reads them (NaN values left out), only ``wanted`` ones.

    Raises :class:`TooManySeries` for more than ``max_series`` sample lines, :class:`LineTooLong` for
    a line over :data:`MAX_LINE` characters, :class:`ParseAbandoned` once ``stop`` is set.
    """
    # imported here, not at the top: most texts never need it (a process that scrapes nothing, or
    # only plain expositions, never loads prometheus_client)
    from prometheus_client.parser import text_fd_to_metric_families

    samples: list[Sample] = []
    for family in text_fd_to_metric_families(cast("TextIO", _lines(text, max_series, stop))):
        for sample in family.samples:
            value = float(sample.value)
            if math.isnan(value) or (wanted is not None and sample.name not in wanted):
                continue
            samples.append(Sample(sample.name, dict(sample.labels), value))
    return samples


def parse_exposition(text: str, wanted: Collection[str] | None = None, max_series: int | None = None) -> list[Sample]:
    """Samples of a Prometheus text exposition. Raises ValueError for text that does not parse
    (:class:`TooManySeries` for more than ``max_series`` sample lines).

    ``wanted`` limits the result to samples of those names (e.g. ``foo_bucket``, ``foo_count``).
    """
    fast = parse_fast(text, wanted, max_series)
    if fast is not None:
        return fast
    return parse_with_prometheus_client(text, wanted, max_series)
