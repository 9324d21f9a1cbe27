"""Recordings: a graph's Snapshots, decisions and frontend workload in a compressed, append-only file.

See :mod:`.format` for the file, :mod:`.recorder` for writing one from a running graph, :mod:`.reader` for
reading one back (replay, compare), :mod:`.workload` for the workload per interval and :mod:`.timeline`
for what a chart of a run shows.
"""

from planner_tui.recording.format import RecordingError, RecordingWriter
from planner_tui.recording.reader import Recording, read_recording
from planner_tui.recording.recorder import Recorder
from planner_tui.recording.workload import SizeHistogram, WorkloadInterval, WorkloadSampler

__all__ = [
    "Recorder",
    "Recording",
    "RecordingError",
    "RecordingWriter",
    "SizeHistogram",
    "WorkloadInterval",
    "WorkloadSampler",
    "read_recording",
]
