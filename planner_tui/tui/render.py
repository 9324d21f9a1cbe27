"""Text formatting for the dashboard: bars, sparklines, durations and sizes (no Textual imports)."""

from __future__ import annotations

import math
from collections.abc import Sequence

SPARK_CHARS = "▁▂▃▄▅▆▇█"
BAR_FULL = "█"
BAR_EMPTY = "░"
BAR_PARTIALS = " ▏▎▍▌▋▊▉"
#: charts redraw at most twice a second of data time, however often snapshots arrive
MIN_CHART_INTERVAL_S = 0.5


def too_soon(drawn: tuple[object, ...] | None, key: tuple[object, ...]) -> bool:
    """True when ``key`` (data timestamp first, then the layout) is a newer frame of the same layout than
    ``drawn`` but less than :data:`MIN_CHART_INTERVAL_S` later: that frame is skipped (its data stays in the
    history and shows in the next one)."""
    if drawn is None or drawn[1:] != key[1:]:
        return False
    last, new = drawn[0], key[0]
    return isinstance(last, float) and isinstance(new, float) and 0 < new - last < MIN_CHART_INTERVAL_S


def bar(fraction: float | None, width: int) -> str:
    """A horizontal bar ``width`` cells wide filled to ``fraction`` (0..1), with eighth-cell precision."""
    if width <= 0:
        return ""
    if fraction is None or math.isnan(fraction):
        return BAR_EMPTY * width
    fraction = min(1.0, max(0.0, fraction))
    eighths = round(fraction * width * 8)
    full, rest = divmod(eighths, 8)
    text = BAR_FULL * full
    if rest and full < width:
        text += BAR_PARTIALS[rest]
    return text + BAR_EMPTY * (width - len(text))


def sparkline(values: Sequence[float | None], low: float | None = None, high: float | None = None) -> str:
    """One character per value, scaled between ``low`` and ``high`` (default: the values' range).

    Missing values (None) are drawn as a space so gaps in the data stay visible.
    """
    known = [v for v in values if v is not None]
    if not known:
        return " " * len(values)
    lo = min(known) if low is None else low
    hi = max(known) if high is None else high
    span = hi - lo
    out = []
    for value in values:
        if value is None:
            out.append(" ")
        elif span <= 0:
            out.append(SPARK_CHARS[0])
        else:
            level = (min(hi, max(lo, value)) - lo) / span
            out.append(SPARK_CHARS[min(len(SPARK_CHARS) - 1, int(level * (len(SPARK_CHARS) - 1) + 0.5))])
    return "".join(out)


def duration(seconds: float | None) -> str:
    """``45s``, ``12m``, ``3h07m``, ``2d04h``; ``-`` when unknown.

    Seconds only in the first minute: an uptime or an age shown on a live panel then changes once a
    minute (once an hour after a day), not every second, so an idle dashboard has nothing to repaint.
    """
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def size_bytes(value: float | None) -> str:
    """``512K``, ``48.2M``, ``1.5G``; ``-`` when unknown."""
    if value is None:
        return "-"
    for unit, scale in (("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value >= scale:
            number = value / scale
            return f"{number:.1f}{unit}" if number < 100 else f"{number:.0f}{unit}"
    return f"{int(value)}B"


def mib(value: float | None) -> str:
    """GPU memory in MiB as ``812M`` or ``22.5G``; ``n/a`` when unknown."""
    if value is None:
        return "n/a"
    return f"{value / 1024:.1f}G" if value >= 1024 else f"{value:.0f}M"


def number(value: float | None, digits: int = 1, unit: str = "") -> str:
    """A number with ``digits`` decimals and a unit, or ``-`` when unknown."""
    if value is None:
        return "-"
    return f"{value:.{digits}f}{unit}"


def milliseconds(seconds: float | None) -> str:
    """A latency given in seconds, shown as ``320ms`` or ``1.25s``; ``-`` when unknown."""
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:.0f}ms" if ms < 1000 else f"{seconds:.2f}s"


def percent(fraction: float | None) -> str:
    """A 0..1 fraction as ``73%``; ``-`` when unknown."""
    if fraction is None:
        return "-"
    return f"{fraction * 100:.0f}%"
