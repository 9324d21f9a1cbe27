"""Numbers and counts as a person reads them in messages: ``1 component``, ``0.83 s``, ``19800 MiB``."""

from __future__ import annotations

import math


def plural(count: int, word: str, plural_word: str | None = None) -> str:
    """``1 component``, ``3 components``, ``0 components``; ``plural_word`` for irregular nouns."""
    return f"{count} {word if count == 1 else (plural_word or word + 's')}"


def special_name(value: float) -> str | None:
    """``NaN``, ``+Inf`` or ``-Inf`` for the floats JSON and ``:g`` name badly; None for any other."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def number(value: float | None, digits: int = 3) -> str:
    """``value`` with about ``digits`` significant digits and no trailing zeros, in exponent form only below 1e-4.

    ``0.833333`` -> ``0.833``, ``19800.4`` -> ``19800`` (whole numbers keep every digit), ``2.0`` -> ``2``,
    ``0.00012`` -> ``0.00012``; None -> ``n/a``; ``NaN``, ``+Inf`` and ``-Inf`` are named.
    """
    if value is None:
        return "n/a"
    special = special_name(value)
    if special is not None:
        return special
    if value == 0:
        return "0"
    if abs(value) < 1e-4:
        return f"{value:.{digits}g}"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    text = f"{value:.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def seconds(value: float) -> str:
    """An interval in seconds with two significant digits below 10 s: ``0.83 s``, ``5 s``, ``12.5 s``."""
    return f"{number(value, digits=2 if abs(value) < 10 else 3)} s"
