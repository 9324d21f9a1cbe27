"""Parsing the Prometheus text exposition format into :class:`Sample` records.

``prometheus_client.parser`` is the reference: every text is read exactly as it reads it. Since
it costs ~0.7 ms per typical endpoint (a 1 s tick over 64 replicas would spend 5% of a core on
it), plain expositions take a fast path built on whole-text regular expressions, and anything the
fast path is not sure about (escapes, quoted names, braces in label values, exemplars, a counter
family renamed by the reference parser) is handed to prometheus_client. A property test checks
that both give the same samples.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from typing import NamedTuple

from prometheus_client.parser import text_string_to_metric_families


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


def parse_fast(text: str, wanted: Collection[str] | None = None) -> list[Sample] | None:
    """The samples of a plain exposition, or None when prometheus_client's parser must decide.

    With ``wanted`` only samples of those names are made (the lines of the others are still checked
    for their layout, not for their values).
    """
    counter_families: set[str] = set()
    typed: set[str] = set()
    sample_lines = 0
    for line in text.split("\n"):
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
    matches = SAMPLE_LINE.findall(text)
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


def parse_with_prometheus_client(text: str, wanted: Collection[str] | None = None) -> list[Sample]:
    """Samples as prometheus_client's parser reads them (NaN values left out), only ``wanted`` ones."""
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            value = float(sample.value)
            if math.isnan(value) or (wanted is not None and sample.name not in wanted):
                continue
            samples.append(Sample(sample.name, dict(sample.labels), value))
    return samples


def parse_exposition(text: str, wanted: Collection[str] | None = None) -> list[Sample]:
    """Samples of a Prometheus text exposition. Raises ValueError for text that does not parse.

    ``wanted`` limits the result to samples of those names (e.g. ``foo_bucket``, ``foo_count``).
    """
    fast = parse_fast(text, wanted)
    if fast is not None:
        return fast
    return parse_with_prometheus_client(text, wanted)
