"""The recording file: what is written reads back; damage loses only what it touched, and says so."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest

from planner_tui.config import demo_graph_path, load_graph
from planner_tui.metrics.snapshot_json import snapshot_to_dict
from planner_tui.recording import RecordingError, RecordingWriter, read_recording
from planner_tui.recording.format import FILE_MAGIC, FRAME, read_raw
from planner_tui.recording.recorder import Recorder
from planner_tui.tui.sample_data import sample_decisions, sample_snapshot


def write_intervals(path: Path, count: int, start: float = 1_700_000_000.0) -> None:
    graph = load_graph(demo_graph_path())
    with RecordingWriter(path) as writer:
        recorder = Recorder(writer, graph, started=start, recorded_by="test")
        for i in range(count):
            recorder.writer.add("snapshot", start + i, snapshot_to_dict(sample_snapshot(start + i)))
            writer.flush()


def test_snapshots_and_decisions_read_back_in_order_and_the_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "run.ptrec"
    graph = load_graph(demo_graph_path())
    snapshots = [sample_snapshot(1_700_000_000.0 + i) for i in range(5)]
    decisions = sample_decisions(1_700_000_000.0)
    with RecordingWriter(path) as writer:
        recorder = Recorder(writer, graph, started=1_700_000_000.0, recorded_by="test")
        for decision in decisions:
            recorder.decision(decision)
        for snapshot in snapshots:
            writer.add("snapshot", snapshot.timestamp, snapshot_to_dict(snapshot))
            writer.flush()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    recording = read_recording(path)
    assert recording.problems == []
    assert recording.graph.namespace == graph.namespace
    assert len(recording) == 5
    assert [recording.snapshot(i) for i in range(5)] == snapshots
    assert [d.timestamp for d in recording.decisions] == sorted(d.timestamp for d in decisions)
    first = min(decisions, key=lambda d: d.timestamp)
    assert recording.decisions[0].components[0].reason == first.components[0].reason


def test_appending_to_a_recording_starts_a_new_stream_and_both_read_back(tmp_path: Path) -> None:
    path = tmp_path / "run.ptrec"
    write_intervals(path, 3, start=1_700_000_000.0)
    write_intervals(path, 2, start=1_700_000_100.0)
    recording = read_recording(path)
    assert recording.problems == []
    assert recording.snapshot_times == [1_700_000_000.0 + i for i in range(3)] + [1_700_000_100.0, 1_700_000_101.0]


def test_a_cut_short_last_frame_loses_that_interval_only(tmp_path: Path) -> None:
    path = tmp_path / "run.ptrec"
    write_intervals(path, 6)
    data = path.read_bytes()
    path.write_bytes(data[:-7])  # the recorder died in the middle of its last write
    recording = read_recording(path)
    assert len(recording) == 5
    assert len(recording.problems) == 1 and "cut short" in recording.problems[0]


def test_a_damaged_frame_is_skipped_with_its_offset_named(tmp_path: Path) -> None:
    path = tmp_path / "run.ptrec"
    write_intervals(path, 4)
    data = bytearray(path.read_bytes())
    # find the third frame (header, snapshot 0, snapshot 1 ...) and flip a payload byte
    offset = len(FILE_MAGIC)
    for _ in range(2):
        offset += FRAME.size + struct.unpack_from(">I", data, offset + 3)[0]
    data[offset + FRAME.size + 2] ^= 0xFF
    path.write_bytes(bytes(data))
    raw = read_raw(path)
    assert any(f"byte {offset}" in p and "checksum" in p for p in raw.problems), raw.problems
    recording = read_recording(path)
    assert recording.snapshot_times == [1_700_000_000.0]  # what came before; the stream cannot resume after


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "empty recording"),
        (b"timestamp,input_tokens,output_tokens\n1,2,3\n", "not a planner-tui recording"),
    ],
)
def test_files_that_are_not_recordings_are_refused_with_the_fix(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "file"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=expected):
        read_recording(path)


def test_a_missing_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match=r"cannot read the recording .*nope"):
        read_recording(tmp_path / "nope")


def test_the_writer_refuses_to_append_to_a_file_that_is_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("my notes\n")
    with pytest.raises(RecordingError, match="not a planner-tui recording; choose another file"):
        RecordingWriter(path)
    assert path.read_text() == "my notes\n"


def test_a_recording_without_its_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "run.ptrec"
    with RecordingWriter(path) as writer:
        writer.add("snapshot", 1.0, snapshot_to_dict(sample_snapshot(1.0)))
    with pytest.raises(RecordingError, match="no readable header"):
        read_recording(path)
    assert os.path.getsize(path) > len(FILE_MAGIC)
