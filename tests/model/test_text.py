"""Counts and numbers in messages read as a person writes them."""

from __future__ import annotations

import math

import pytest

from planner_tui.model.text import number, plural, seconds


def test_plural_agrees_with_the_count() -> None:
    assert plural(1, "component") == "1 component"
    assert plural(3, "component") == "3 components"
    assert plural(0, "GPU") == "0 GPUs"
    assert plural(2, "child", "children") == "2 children"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (19800.0, "19800"),
        (81559.0, "81559"),
        (0.833333, "0.833"),
        (2.0, "2"),
        (0.4, "0.4"),
        (12.345, "12.3"),
        (-0.25, "-0.25"),
        (0.0, "0"),
        (None, "n/a"),
        (math.inf, "+Inf"),
        (math.nan, "NaN"),
    ],
)
def test_numbers_have_no_exponent_and_no_trailing_zeros(value: float | None, text: str) -> None:
    assert number(value) == text


def test_intervals_in_seconds() -> None:
    assert seconds(5 / 6) == "0.83 s"
    assert seconds(5.0) == "5 s"
    assert seconds(12.5) == "12.5 s"
    assert seconds(180.0) == "180 s"
