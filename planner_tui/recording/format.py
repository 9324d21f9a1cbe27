"""The recording file: compressed, append-only, framed so that a killed recorder loses at most one interval.

Layout::

    PLANNER-TUI-RECORDING 1\\n                      the file magic
    frame*                                          until the end of the file

    frame = b"PR" | flags (1 byte) | length (4 bytes, big-endian) | crc32 of the payload (4 bytes) | payload

A frame's payload is one chunk of a zlib stream, ended with a sync flush, holding whole record lines of
one interval; the stream's window spans frames, so a Snapshot much like the one before costs little.
``flags & 1`` marks the first frame of a stream (the writer starts one each time it opens the file, so
appending to an old recording works). A record line is ``KIND TIMESTAMP JSON``: ``header`` (the graph and
who recorded), ``snapshot`` (:func:`~planner_tui.metrics.snapshot_json.snapshot_to_dict`), ``decision``
(:func:`~planner_tui.planner.records.decision_to_dict`, the audit log's form), ``workload``
(:class:`~planner_tui.recording.workload.WorkloadInterval`).

The writer writes each frame with one ``write`` once per interval (a kill -9 keeps every frame written;
the kernel has it) and fsyncs at most every ``fsync_every_s`` seconds and on close (a power cut loses at
most that much). The reader stops at a frame cut short or failing its checksum and says what it skipped;
a file that is not a recording is an error that says so.
"""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner_tui.config.paths import open_private

FILE_MAGIC = b"PLANNER-TUI-RECORDING 1\n"
FRAME = struct.Struct(">2sBII")
FRAME_MAGIC = b"PR"
NEW_STREAM = 1
#: the largest frame the reader accepts (one interval of a very large graph)
MAX_FRAME_BYTES = 256 * 1024 * 1024
KINDS = ("header", "snapshot", "decision", "workload")


class RecordingError(ValueError):
    """A recording that cannot be read or written; the message names the file, the problem and the fix."""


def record_line(kind: str, timestamp: float, data: Any) -> bytes:
    """One record line: ``KIND TIMESTAMP JSON\\n`` (NaN and infinities as JSON's ``NaN``/``Infinity``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown record kind {kind!r}")
    return b"%s %r %s\n" % (kind.encode(), float(timestamp), json.dumps(data, separators=(",", ":")).encode())


class RecordingWriter:
    """Appends records to a recording file (created 0600); :meth:`flush` ends an interval's frame."""

    def __init__(self, path: str | Path, *, level: int = 6, fsync_every_s: float = 10.0) -> None:
        self.path = Path(path)
        self.fsync_every_s = fsync_every_s
        try:
            self._fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        except OSError as exc:
            raise RecordingError(
                f"cannot write the recording {self.path}: {exc.strerror or exc}; choose a writable path with -o"
            ) from None
        try:
            size = os.fstat(self._fd).st_size
            if size == 0:
                os.write(self._fd, FILE_MAGIC)
            elif os.pread(self._fd, len(FILE_MAGIC), 0) != FILE_MAGIC:
                raise RecordingError(
                    f"{self.path} exists and is not a planner-tui recording; choose another file with -o"
                )
        except BaseException:
            os.close(self._fd)
            raise
        self._compressor = zlib.compressobj(level)
        self._new_stream = True
        self._pending: list[bytes] = []
        self._last_sync = time.monotonic()
        self.bytes_written = size if size else len(FILE_MAGIC)
        self.frames = 0
        self.closed = False

    def add(self, kind: str, timestamp: float, data: Any) -> None:
        """Queue one record for the next frame."""
        if self.closed:
            raise RecordingError(f"the recording {self.path} is closed")
        self._pending.append(record_line(kind, timestamp, data))

    def flush(self) -> int:
        """Write the queued records as one frame (nothing when none is queued); returns the bytes written."""
        if not self._pending or self.closed:
            return 0
        lines, self._pending = b"".join(self._pending), []
        payload = self._compressor.compress(lines) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        flags = NEW_STREAM if self._new_stream else 0
        frame = FRAME.pack(FRAME_MAGIC, flags, len(payload), zlib.crc32(payload)) + payload
        view = memoryview(frame)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        self._new_stream = False
        self.frames += 1
        self.bytes_written += len(frame)
        if time.monotonic() - self._last_sync >= self.fsync_every_s:
            os.fsync(self._fd)
            self._last_sync = time.monotonic()
        return len(frame)

    def close(self) -> None:
        """Write what is queued, fsync and close (idempotent)."""
        if self.closed:
            return
        try:
            self.flush()
            os.fsync(self._fd)
        finally:
            self.closed = True
            os.close(self._fd)

    def __enter__(self) -> RecordingWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(slots=True)
class RawRecords:
    """Every record line of a file, in order, and what could not be read."""

    lines: list[tuple[str, float, bytes]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    truncated_bytes: int = 0


def read_raw(path: str | Path) -> RawRecords:
    """The record lines of the recording at ``path`` (``(kind, timestamp, json bytes)``).

    A frame cut short at the end (a killed recorder) or failing its checksum is skipped with a problem
    naming its offset; frames after a bad one are skipped until the next stream starts. Raises
    :class:`RecordingError` for a file that cannot be read or is not a recording.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"cannot read the recording {path}: {exc.strerror or exc}") from None
    if not data.startswith(FILE_MAGIC):
        if FILE_MAGIC.startswith(data):
            raise RecordingError(f"{path} is an empty recording (the recorder stopped before its first interval)")
        raise RecordingError(
            f"{path} is not a planner-tui recording (it does not start with {FILE_MAGIC.strip().decode()!r}); "
            "record one with 'planner-tui record'"
        )
    out = RawRecords()
    offset = len(FILE_MAGIC)
    decompressor: Any = None
    skipping = False
    for start, flags, payload, problem in _frames(data, offset):
        if problem is not None:
            out.problems.append(f"{path}: {problem}")
            out.truncated_bytes += len(data) - start if payload is None else len(payload)
            if payload is None:
                break
            skipping, decompressor = True, None
            continue
        assert payload is not None  # a frame without its payload always comes with a problem
        if flags & NEW_STREAM:
            decompressor, skipping = zlib.decompressobj(), False
        if skipping or decompressor is None:
            out.truncated_bytes += len(payload)
            continue
        try:
            text = decompressor.decompress(payload)
        except zlib.error as exc:
            out.problems.append(
                f"{path}: frame at byte {start} does not decompress ({exc}); skipped to the next stream"
            )
            skipping, decompressor = True, None
            continue
        for line in text.splitlines():
            parsed = _split(line)
            if parsed is None:
                out.problems.append(f"{path}: a record in the frame at byte {start} is not 'KIND TIMESTAMP JSON'")
                continue
            out.lines.append(parsed)
    return out


def _frames(data: bytes, offset: int) -> Iterator[tuple[int, int, bytes | None, str | None]]:
    """``(offset, flags, payload, problem)`` per frame; payload None with a problem ends the file."""
    end = len(data)
    while offset < end:
        if end - offset < FRAME.size:
            yield offset, 0, None, f"the last {end - offset} bytes are a cut-short frame header (recorder killed?)"
            return
        magic, flags, length, crc = FRAME.unpack_from(data, offset)
        if magic != FRAME_MAGIC or length > MAX_FRAME_BYTES:
            yield offset, 0, None, f"no frame at byte {offset} (the file is damaged there); the rest is skipped"
            return
        body = offset + FRAME.size
        if body + length > end:
            yield (
                offset,
                0,
                None,
                (f"the last frame (byte {offset}) is cut short: {end - body} of {length} bytes (recorder killed?)"),
            )
            return
        payload = data[body : body + length]
        if zlib.crc32(payload) != crc:
            yield offset, flags, payload, f"the frame at byte {offset} fails its checksum; skipped to the next stream"
        else:
            yield offset, flags, payload, None
        offset = body + length


def _split(line: bytes) -> tuple[str, float, bytes] | None:
    parts = line.split(b" ", 2)
    if len(parts) != 3:
        return None
    kind = parts[0].decode("ascii", "replace")
    if kind not in KINDS:
        return None
    try:
        return kind, float(parts[1]), parts[2]
    except ValueError:
        return None
