"""Log lines of a component's replicas, merged for the log view."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line a replica wrote. ``timestamp`` is Unix time (when written, or read if unknown).

    ``gone``: the replica that wrote it has been removed (scaled down); its lines are kept, marked.
    """

    component: str
    replica: str
    timestamp: float
    text: str
    stream: str = "stdout"
    gone: bool = False

    @property
    def label(self) -> str:
        """``decode-1``, or ``decode-1 (gone)`` for a removed replica's line."""
        return f"{self.replica} (gone)" if self.gone else self.replica

    def format(self, with_timestamp: bool = False) -> str:
        """``[decode-1] text`` (``[decode-1 (gone)] text`` once removed), optionally with an ISO time in front."""
        prefix = f"[{self.label}] "
        if with_timestamp:
            import datetime as _dt

            stamp = _dt.datetime.fromtimestamp(self.timestamp).isoformat(timespec="milliseconds")
            return f"{stamp} {prefix}{self.text}"
        return prefix + self.text
