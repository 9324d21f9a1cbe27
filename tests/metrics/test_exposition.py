"""Parsing expositions: the fast path reads every text exactly as prometheus_client's parser does."""

from __future__ import annotations

import functools
import math
import re
import time
from collections.abc import Callable
from concurrent.futures import Future

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest

from planner_tui.metrics import exposition_layout
from planner_tui.metrics.exposition import (
    Sample,
    index_samples,
    parse_exposition,
    parse_fast,
    parse_with_prometheus_client,
)
from planner_tui.metrics.exposition_layout import TargetParser


def real_registry_text(label_value: str) -> str:
    """What a Python exporter (vLLM uses prometheus_client) serves."""
    registry = CollectorRegistry()
    Gauge("vllm:num_requests_waiting", "waiting", ["model_name"], registry=registry).labels(label_value).set(3)
    Counter("vllm:num_preemptions", "preemptions", ["model_name"], registry=registry).labels(label_value).inc(5)
    latency = Histogram("vllm:time_to_first_token_seconds", "ttft", ["model_name"], registry=registry)
    for value in (0.01, 0.2, 0.7, 3.0):
        latency.labels(label_value).observe(value)
    Summary("request_size_bytes", "sizes", registry=registry).observe(512)
    return generate_latest(registry).decode()


def test_a_python_exporter_takes_the_fast_path_with_identical_samples() -> None:
    text = real_registry_text("llama-3, 8B {instruct}")
    fast = parse_fast(text)
    assert fast is not None and fast == parse_with_prometheus_client(text)
    names = {s.name for s in fast}
    assert {"vllm:num_preemptions_total", "vllm:time_to_first_token_seconds_bucket", "request_size_bytes_sum"} <= names


def test_escaped_label_values_go_through_prometheus_client() -> None:
    text = real_registry_text('say "hi"\\there')
    assert parse_fast(text) is None
    samples = parse_exposition(text)
    assert Sample("vllm:num_requests_waiting", {"model_name": 'say "hi"\\there'}, 3.0) in samples


def test_a_counter_family_without_total_is_renamed_like_the_reference() -> None:
    text = "# TYPE requests counter\nrequests 7\n"
    assert parse_exposition(text) == [Sample("requests_total", {}, 7.0)] == parse_with_prometheus_client(text)


@pytest.mark.parametrize(
    "text",
    [
        "this is { not prometheus text\n",
        "metric 1_000\n",
        "# TYPE metric\nmetric 1\n",
        "# TYPE metric sparkline\nmetric 1\n",
        "bad-name 1\n",
        'metric{a="1" 2\n',
    ],
)
def test_what_the_reference_refuses_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_with_prometheus_client(text)
    with pytest.raises(ValueError):
        parse_exposition(text)


NAMES = st.sampled_from(["up", "vllm:kv_cache_usage_perc", "dynamo_component_requests", "lat", "x_total", "a:b_c"])
LABEL_NAMES = st.sampled_from(["model", "le", "gpu", "dynamo_endpoint", "_x"])
LABEL_VALUES = st.text(alphabet=st.sampled_from([*list("abc XYZ019.,=:{}-_+#"), "ü"]), max_size=8)
VALUES = st.one_of(
    st.integers(-(10**6), 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr).map(lambda r: {"inf": "+Inf", "-inf": "-Inf"}.get(r, r)),
    st.sampled_from(["NaN", "+Inf", "-Inf", "1e-3", "0.5"]),
)


VALUE_SLOT, TIMESTAMP_SLOT = "\x00v", "\x00t"  # where a layout's numbers go (no label value holds NUL)


@st.composite
def layouts(draw: st.DrawFn) -> str:
    """An exposition with slots for its values and timestamps: the same layout takes any numbers."""
    lines = []
    for _ in range(draw(st.integers(0, 6))):
        name = draw(NAMES)
        kind = draw(st.sampled_from(["counter", "gauge", "histogram", "summary", "untyped", None]))
        if draw(st.booleans()):
            lines.append(f"# HELP {name} some help text")
        if kind:
            lines.append(f"# TYPE {name} {kind}")
        for _ in range(draw(st.integers(0, 4))):
            suffix = draw(st.sampled_from(["", "_total", "_bucket", "_sum", "_count"]))
            labels = draw(st.dictionaries(LABEL_NAMES, LABEL_VALUES, max_size=3))
            label_text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            if labels and draw(st.booleans()):
                label_text += ","
            sample = name + suffix + ("{" + label_text + "}" if labels or draw(st.booleans()) else "")
            timestamp = f" {TIMESTAMP_SLOT}" if draw(st.booleans()) else ""
            lines.append(f"{draw(st.sampled_from(['', '  ']))}{sample} {VALUE_SLOT}{timestamp}")
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# a comment", "#", "   "])))
    return "\n".join(lines) + draw(st.sampled_from(["\n", ""]))


def fill(draw: st.DrawFn, layout: str) -> str:
    """The layout with drawn values and timestamps in its slots."""
    pieces = layout.split("\x00")
    out = [pieces[0]]
    for piece in pieces[1:]:
        out.append((draw(VALUES) if piece[0] == "v" else str(draw(st.integers(0, 2**40)))) + piece[1:])
    return "".join(out)


@st.composite
def expositions(draw: st.DrawFn) -> str:
    return fill(draw, draw(layouts()))


def _same(a: list[Sample], b: list[Sample]) -> bool:
    return len(a) == len(b) and all(
        x.name == y.name
        and x.labels == y.labels
        and (x.value == y.value or (math.isnan(x.value) and math.isnan(y.value)))
        for x, y in zip(a, b, strict=True)
    )


@settings(max_examples=300, deadline=None)
@given(expositions())
def test_fast_path_agrees_with_prometheus_client(text: str) -> None:
    try:
        reference = parse_with_prometheus_client(text)
    except ValueError:
        fast = None
        try:
            fast = parse_fast(text)
        except ValueError:
            return
        assert fast is None, f"the fast path accepted what the reference refuses: {text!r}"
        return
    fast = parse_fast(text)
    assert fast is None or _same(fast, reference), text
    assert _same(parse_exposition(text), reference)


WANTED = st.one_of(
    st.none(),
    st.frozensets(st.builds(lambda n, x: n + x, NAMES, st.sampled_from(["", "_total", "_bucket", "_sum", "_count"]))),
)


def _parse_or_error(parse: Callable[[], list[Sample]]) -> list[Sample] | type[ValueError]:
    try:
        return parse()
    except ValueError:
        return ValueError


@settings(max_examples=300, deadline=None)
@given(st.data(), layouts(), WANTED)
def test_a_reused_layout_reads_every_text_as_the_full_parse(
    data: st.DataObject, layout: str, wanted: frozenset[str]
) -> None:
    """Successive scrapes of one target: values change, the layout stays (or not); same samples as a full parse."""
    parser = TargetParser()
    for _ in range(3):
        text = fill(data.draw, layout)
        expected = _parse_or_error(functools.partial(parse_exposition, text, wanted))
        got = _parse_or_error(functools.partial(parser.parse, text, wanted))
        if expected is ValueError or got is ValueError:
            assert got is expected, text
        else:
            assert isinstance(got, list) and _same(got, expected), text
            parsed = parser.read(text, wanted)  # the same text again: through the layout this time
            assert parsed.by_name() == index_samples(parsed.samples), text
            if parsed.layout is not None:
                assert parsed.values is not None and len(parsed.values) == len(parsed.layout.names)


def test_a_changed_layout_is_read_in_full_and_reused_after(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = TargetParser()
    first = 'a{x="1"} 1\nb 2\n'
    assert parser.parse(first) == [Sample("a", {"x": "1"}, 1.0), Sample("b", {}, 2.0)]
    # a new series (another label value) does not fit the layout: parsed in full
    assert parser.parse('a{x="1"} 3\na{x="2"} 4\nb 5\n') == [
        Sample("a", {"x": "1"}, 3.0),
        Sample("a", {"x": "2"}, 4.0),
        Sample("b", {}, 5.0),
    ]
    full_parses: list[str] = []
    monkeypatch.setattr(
        exposition_layout, "parse_fast", lambda text, *a: full_parses.append(text) or parse_fast(text, *a)
    )
    # the new layout is reused: new values (a timestamp too) without a full parse, NaN left out as there
    assert parser.parse('a{x="1"} 6\na{x="2"} NaN\nb 1e3 1700000000\n') == [
        Sample("a", {"x": "1"}, 6.0),
        Sample("b", {}, 1000.0),
    ]
    assert parser.parse('a{x="1"} 7\na{x="2"} 8\nb 9\n') == [
        Sample("a", {"x": "1"}, 7.0),
        Sample("a", {"x": "2"}, 8.0),
        Sample("b", {}, 9.0),
    ]
    assert full_parses == []
    # a value the full parse must judge (an underscore) is handed to it
    with pytest.raises(ValueError):
        parser.parse('a{x="1"} 1_0\na{x="2"} 8\nb 9\n')
    assert len(full_parses) == 1


def test_a_long_layout_is_compiled_off_the_event_loop_and_then_used(
    layout_compiler: Callable[[str], Future[re.Pattern[str]]],
) -> None:
    """A long exposition (12 KB): its target is parsed in full until its layout is compiled in a thread."""
    lines = []
    for h in range(60):
        lines.append(f"# TYPE h{h} histogram")
        lines += [f'h{h}_bucket{{model="m",le="{le}"}} {i}' for i, le in enumerate(("0.1", "1", "10", "+Inf"))]
        lines += [f"h{h}_sum 1.5", f"h{h}_count 3"]
    text = "\n".join(lines) + "\n"
    parser = TargetParser(layout_compiler)
    started = time.perf_counter()
    first = parser.read(text)
    assert first.layout is None and time.perf_counter() - started < 5  # not compiled here, on the spot
    compiling = parser.compiling
    assert compiling is not None
    changed = text.replace("1.5", "2.5")
    assert parser.read(changed).samples == parse_exposition(changed)  # meanwhile: a full parse
    compiling.result(timeout=30)
    parsed = parser.read(changed)
    assert parsed.layout is not None
    assert parsed.samples == parse_exposition(text.replace("1.5", "2.5"))
    parser.close()
