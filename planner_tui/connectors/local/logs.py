"""Replica log files: paths, tail from the end, merge by time, follow across rotations.

circusd writes each replica's stdout and stderr through :class:`ReplicaLogStream` to
``<log dir>/<watcher>.out.log`` / ``.err.log``, each line as ``<unix time> <text>``; rotated files get
``.1``, ``.2``, ... Reading the last lines seeks from the end, so a 1 GB log costs what a 1 KB one does.
A removed replica's files stay; its lines are read like the others, marked ``gone``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from planner_tui.model.logs import LogLine

STREAMS = {"stdout": "out", "stderr": "err"}
BLOCK = 64 * 1024
#: rotation: a replica's file is rotated at this size, keeping this many old files
MAX_BYTES = 20 * 1024 * 1024
BACKUPS = 3


@dataclass(frozen=True, slots=True)
class LogSource:
    """One replica stream's file: which component and replica label it belongs to."""

    component: str
    replica: str  # label shown in the merged view, e.g. ``decode-1``
    stream: str  # stdout | stderr
    path: Path
    backups: int = BACKUPS  # rotated files kept next to it (``.1`` ... ``.N``)
    gone: bool = False  # the replica was removed; its files are still read


#: the text of the line :func:`follow_sources` adds when a followed replica is removed
REMOVED_TEXT = "-- replica removed --"
#: the longest a removed replica's mark waits for its last lines to reach the file
GONE_GRACE_S = 2.0


def log_path(log_dir: Path, watcher: str, stream: str) -> Path:
    """The live log file of ``watcher``'s ``stream`` (``stdout``/``stderr``)."""
    return log_dir / f"{watcher}.{STREAMS[stream]}.log"


def log_files(log_dir: Path) -> list[tuple[str, str, Path]]:
    """``(watcher, stream, path)`` of every live (not rotated) log file in ``log_dir``, removed replicas' too."""
    suffixes = [(f".{short}.log", stream) for stream, short in STREAMS.items()]
    try:
        names = sorted(os.listdir(log_dir))
    except OSError:
        return []
    out = []
    for name in names:
        for suffix, stream in suffixes:
            if name.endswith(suffix):
                out.append((name[: -len(suffix)], stream, log_dir / name))
    return out


def tail_lines(path: Path, count: int) -> list[bytes]:
    """The last ``count`` complete lines of ``path`` (without newlines), reading backwards from the end."""
    if count <= 0:
        return []
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the with below
    except FileNotFoundError:
        return []
    with handle:
        end = handle.seek(0, os.SEEK_END)
        pos = end
        data = b""
        while pos > 0 and data.count(b"\n") <= count:
            step = min(BLOCK, pos)
            pos -= step
            handle.seek(pos)
            data = handle.read(step) + data
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if pos > 0:
        lines = lines[1:]  # the first piece may be a cut line
    return lines[-count:]


def parse_line(raw: bytes, fallback_time: float) -> tuple[float, str]:
    """Split ``<unix time> <text>``; lines without a stamp get ``fallback_time``."""
    head, sep, rest = raw.partition(b" ")
    if sep:
        try:
            return float(head), rest.decode("utf-8", errors="replace")
        except ValueError:
            pass
    return fallback_time, raw.decode("utf-8", errors="replace")


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def tail_source(source: LogSource, count: int) -> list[LogLine]:
    """The last ``count`` lines of one replica stream, continuing into rotated files when needed."""
    collected: list[LogLine] = []
    rotated = (source.path.with_name(f"{source.path.name}.{i}") for i in range(1, source.backups + 1))
    candidates = [source.path, *rotated]
    for path in candidates:
        need = count - len(collected)
        if need <= 0:
            break
        raws = tail_lines(path, need)
        fallback = _mtime(path)
        older = [
            LogLine(source.component, source.replica, ts, text, source.stream, source.gone)
            for ts, text in (parse_line(r, fallback) for r in raws)
        ]
        collected = older + collected
    return collected


def merged_tail(sources: Iterable[LogSource], count: int) -> list[LogLine]:
    """The last ``count`` lines over all ``sources``, ordered by time."""
    lines: list[LogLine] = []
    for source in sources:
        lines.extend(tail_source(source, count))
    lines.sort(key=lambda line: line.timestamp)
    return lines[-count:] if count > 0 else []


class _FileFollower:
    """Reads what was appended to one file, and the rest of the old file after a rotation."""

    def __init__(self, source: LogSource, from_end: bool) -> None:
        self.source = source
        self._handle: IO[bytes] | None = None
        self._inode: int | None = None
        self._partial = b""
        self._from_end = from_end

    def _open(self) -> bool:
        try:
            handle = open(self.source.path, "rb")  # noqa: SIM115 - kept open to follow across renames
        except FileNotFoundError:
            self._from_end = False  # created later: everything in it is new
            return False
        self._inode = os.fstat(handle.fileno()).st_ino
        if self._from_end:
            handle.seek(0, os.SEEK_END)
        self._from_end = False  # files appearing later (rotation, new replica) are read from the start
        self._handle = handle
        return True

    def poll(self) -> list[LogLine]:
        if self._handle is None and not self._open():
            return []
        assert self._handle is not None
        out = self._read_available()
        try:
            rotated = os.stat(self.source.path).st_ino != self._inode
        except FileNotFoundError:
            rotated = True
        if rotated:
            out.extend(self._read_available())  # whatever was written before the rename
            out.extend(self._read_skipped_rotations())
            self.close()
            if self._open():
                out.extend(self._read_available())
        return out

    def _read_skipped_rotations(self) -> list[LogLine]:
        """Lines of files rotated in and out again between two polls (newer than the one we had open)."""
        path = self.source.path
        newer: list[Path] = []
        for i in range(1, self.source.backups + 1):
            rotated = path.with_name(f"{path.name}.{i}")
            try:
                if os.stat(rotated).st_ino == self._inode:
                    break
            except FileNotFoundError:
                return []  # our file is gone from the chain: nothing reliable to add
            newer.append(rotated)
        else:
            return []
        out: list[LogLine] = []
        for rotated in reversed(newer):  # oldest first
            try:
                data = rotated.read_bytes()
            except FileNotFoundError:
                continue
            fallback = _mtime(rotated)
            s = self.source
            out.extend(
                LogLine(s.component, s.replica, ts, text, s.stream, s.gone)
                for ts, text in (parse_line(r, fallback) for r in data.split(b"\n") if r)
            )
        return out

    def _read_available(self) -> list[LogLine]:
        if self._handle is None:
            return []
        data = self._handle.read()
        if not data:
            return []
        data = self._partial + data
        *complete, self._partial = data.split(b"\n")
        fallback = _mtime(self.source.path)
        s = self.source
        return [
            LogLine(s.component, s.replica, ts, text, s.stream, s.gone)
            for ts, text in (parse_line(r, fallback) for r in complete)
        ]

    def close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
        self._handle = None


async def follow_sources(current_sources: Callable[[], list[LogSource]], poll_s: float = 0.2) -> AsyncIterator[LogLine]:
    """Yield new lines of the sources ``current_sources()`` names, as they are written, until cancelled.

    Sources are re-read every poll, so replicas added later are followed from their first line;
    files present at the start are followed from their end. A replica that becomes ``gone`` is read
    to its last line (until a poll finds nothing new, at most :data:`GONE_GRACE_S`), then a
    :data:`REMOVED_TEXT` line marks its removal. File reads run in a worker thread.
    """
    followers: dict[Path, _FileFollower] = {}
    first = True
    # removed replicas whose mark waits for a quiet read: circusd may still be writing their last words
    # (a replica is removed once its process exited; its output reaches the file a moment later)
    pending: dict[Path, tuple[LogSource, float]] = {}

    def poll() -> list[LogLine]:
        nonlocal first
        wanted = {s.path: s for s in current_sources()}
        for path in list(followers):
            if path not in wanted:
                followers.pop(path).close()
                pending.pop(path, None)
        now = time.monotonic()
        fresh: set[Path] = set()
        for path, source in wanted.items():
            follower = followers.get(path)
            if follower is None:
                followers[path] = _FileFollower(source, from_end=first)
            elif follower.source != source:
                if source.gone and not follower.source.gone:
                    pending[path] = (source, now + GONE_GRACE_S)
                    fresh.add(path)  # read it once more at least: its last line may be on its way
                elif not source.gone:
                    pending.pop(path, None)  # the name is back: a new replica
                follower.source = source
        first = False
        lines: list[LogLine] = []
        quiet: set[Path] = set()
        for path, follower in followers.items():
            read = follower.poll()
            lines.extend(read)
            if not read:
                quiet.add(path)
        stamp = time.time()
        for path, (source, deadline) in list(pending.items()):
            if (path in quiet and path not in fresh) or now >= deadline:
                del pending[path]
                lines.append(LogLine(source.component, source.replica, stamp, REMOVED_TEXT, source.stream, gone=True))
        lines.sort(key=lambda line: line.timestamp)
        return lines

    try:
        while True:
            for line in await asyncio.to_thread(poll):
                yield line
            await asyncio.sleep(poll_s)
    finally:
        for follower in followers.values():
            follower.close()
