"""A recording read back: its graph, its Snapshots (parsed when asked for), decisions and workload."""

from __future__ import annotations

import bisect
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from planner_tui.config.graph import GraphConfig
from planner_tui.metrics.snapshot_json import SnapshotFormatError, snapshot_from_dict
from planner_tui.model.decisions import Decision
from planner_tui.model.snapshot import Snapshot
from planner_tui.planner.records import decision_from_dict
from planner_tui.recording.format import RecordingError, read_raw
from planner_tui.recording.workload import WorkloadFormatError, WorkloadInterval


@dataclass(slots=True)
class Recording:
    """What a recording holds, in time order. Snapshots stay as JSON until :meth:`snapshot` parses one."""

    path: Path
    header: dict[str, Any]
    graph: GraphConfig
    snapshot_times: list[float] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    workload: list[WorkloadInterval] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    truncated_bytes: int = 0
    _raw_snapshots: list[bytes] = field(default_factory=list, repr=False)
    _parsed: dict[int, Snapshot] = field(default_factory=dict, repr=False)

    @property
    def start(self) -> float:
        """Unix time of the first record."""
        times = [t for t in (self.snapshot_times[:1] + [w.start for w in self.workload[:1]]) if t]
        return min(times) if times else float(self.header.get("started", 0.0))

    @property
    def end(self) -> float:
        """Unix time of the last Snapshot (or workload interval)."""
        ends = self.snapshot_times[-1:] + [w.start + w.duration_s for w in self.workload[-1:]]
        return max(ends) if ends else self.start

    @property
    def duration_s(self) -> float:
        """Seconds from the first record to the last."""
        return max(0.0, self.end - self.start)

    def __len__(self) -> int:
        return len(self.snapshot_times)

    def snapshot(self, index: int) -> Snapshot:
        """The ``index``-th Snapshot (parsed once, then kept)."""
        known = self._parsed.get(index)
        if known is None:
            try:
                known = snapshot_from_dict(json.loads(self._raw_snapshots[index]))
            except (SnapshotFormatError, ValueError) as exc:
                raise RecordingError(f"{self.path}: Snapshot {index} cannot be read: {exc}") from None
            self._parsed[index] = known
        return known

    def index_at(self, timestamp: float) -> int:
        """The index of the last Snapshot at or before ``timestamp`` (0 before the first)."""
        return max(0, bisect.bisect_right(self.snapshot_times, timestamp) - 1)

    def snapshots_between(self, start: float, end: float) -> list[Snapshot]:
        """The Snapshots with ``start <= timestamp <= end``, oldest first."""
        lo = bisect.bisect_left(self.snapshot_times, start)
        hi = bisect.bisect_right(self.snapshot_times, end)
        return [self.snapshot(i) for i in range(lo, hi)]

    def decisions_until(self, timestamp: float) -> Sequence[Decision]:
        """The decisions made at or before ``timestamp``, in order."""
        times = [d.timestamp for d in self.decisions]
        return self.decisions[: bisect.bisect_right(times, timestamp)]


def read_recording(path: str | Path) -> Recording:
    """Read the recording at ``path``. :class:`RecordingError` when it cannot be read at all; damage that
    still leaves records (a cut-short last frame) is listed in ``problems``."""
    path = Path(path)
    raw = read_raw(path)
    header: dict[str, Any] | None = None
    graph: GraphConfig | None = None
    recording_parts: dict[str, Any] = {"snapshot_times": [], "raw": [], "decisions": [], "workload": []}
    problems = list(raw.problems)
    for kind, timestamp, payload in raw.lines:
        if kind == "header":
            if header is None:
                header, graph = _header(path, payload)
            continue
        if kind == "snapshot":
            recording_parts["snapshot_times"].append(timestamp)
            recording_parts["raw"].append(payload)
            continue
        try:
            data = json.loads(payload)
            if kind == "decision":
                recording_parts["decisions"].append(decision_from_dict(data))
            else:
                recording_parts["workload"].append(WorkloadInterval.from_dict(data))
        except (ValueError, KeyError, TypeError, WorkloadFormatError) as exc:
            problems.append(f"{path}: a {kind} record at {timestamp:.3f} cannot be read ({exc}); skipped")
    if header is None or graph is None:
        raise RecordingError(
            f"{path} has no readable header (the recorder stopped before its first interval, or the file is "
            "damaged at its start); record again with 'planner-tui record'"
        )
    order = sorted(range(len(recording_parts["snapshot_times"])), key=recording_parts["snapshot_times"].__getitem__)
    return Recording(
        path=path,
        header=header,
        graph=graph,
        snapshot_times=[recording_parts["snapshot_times"][i] for i in order],
        decisions=sorted(recording_parts["decisions"], key=lambda d: d.timestamp),
        workload=sorted(recording_parts["workload"], key=lambda w: w.start),
        problems=problems,
        truncated_bytes=raw.truncated_bytes,
        _raw_snapshots=[recording_parts["raw"][i] for i in order],
    )


def _header(path: Path, payload: bytes) -> tuple[dict[str, Any], GraphConfig]:
    try:
        header = json.loads(payload)
        if not isinstance(header, dict):
            raise ValueError("not an object")
        version = header.get("version")
        if version != 1:
            raise RecordingError(f"{path} is recording format version {version!r}; this planner-tui reads version 1")
        return header, GraphConfig.model_validate(header.get("graph"))
    except ValidationError as exc:
        raise RecordingError(f"{path}: the recorded graph is not valid for this planner-tui: {exc}") from None
    except ValueError as exc:
        if isinstance(exc, RecordingError):
            raise
        raise RecordingError(f"{path}: the header record cannot be read ({exc})") from None
