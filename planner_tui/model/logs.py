"""Log lines of a component's replicas, merged for the log view."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a replica wrote. ``timestamp`` is Unix time (when written, or read if unknown)."""

    component: str
    replica: str
    timestamp: float
    text: str
    stream: str = "stdout"

    def format(self, with_timestamp: bool = False) -> str:
        """``[decode-1] text``, optionally with an ISO time in front."""
        prefix = f"[{self.replica}] "
        if with_timestamp:
            import datetime as _dt

            stamp = _dt.datetime.fromtimestamp(self.timestamp).isoformat(timespec="milliseconds")
            return f"{stamp} {prefix}{self.text}"
        return prefix + self.text
