"""The audit log: every decision appended as one JSON line, flushed and fsynced, rotated by size.

A line is on disk before the decision is reported to anyone, so a crash loses none. A decision that
changes replica counts is written twice: an *intent* record (``"phase": "intent"``, outcomes
``pending``) before anything is applied, then the decision with its outcomes; readers show the
second in place of the first, and an intent with no outcome after it (the planner stopped while
applying) as it is. Every append starts on a fresh line: a line torn by a crash in the middle of a
write is closed first, so it never swallows the next record. Rotation keeps ``backups`` older files
(``decisions.jsonl.1`` is the newest of them).

Readers skip what they cannot read (a torn line, a record whose fields are not what a record holds,
such as a timestamp of ``"abc"`` or ``1e20``) and count it in a :class:`SkippedLines`.

The directory is made 0700 and the file 0600 whatever the umask.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import math
import os
import stat
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from planner_tui.config.graph import GraphConfig
from planner_tui.config.paths import open_private, private_dir, state_dir
from planner_tui.model.decisions import Decision
from planner_tui.model.text import plural
from planner_tui.planner.records import decision_to_dict, json_line

log = logging.getLogger(__name__)

AUDIT_FILE_NAME = "decisions.jsonl"

#: the ``phase`` of a record written before its decision is applied
INTENT = "intent"


def default_audit_path(namespace: str) -> Path:
    """``<state dir>/<namespace>/decisions.jsonl``."""
    return state_dir() / namespace / AUDIT_FILE_NAME


def audit_path_for(graph: GraphConfig) -> Path:
    """The graph's audit log: ``planner.audit_log`` when set, else the default under the state dir."""
    if graph.planner.audit_log:
        return Path(graph.planner.audit_log).expanduser()
    return default_audit_path(graph.namespace)


class AuditLog:
    """Appends decisions to a JSON-lines file durably; safe to call from several threads.

    The file is opened for each append (a few system calls next to the fsync), so a file rotated,
    removed or replaced by someone else is picked up, and a failed write leaves nothing half-open.
    """

    def __init__(self, path: str | Path, max_bytes: int = 10 * 1024 * 1024, backups: int = 3) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        # Directories under the state dir are planner-tui's own: narrowed to 0700 even when they exist.
        # A directory the user chose for the log elsewhere is only made (0700) when it is missing.
        self._own_dir = self.path.parent.absolute().is_relative_to(state_dir())

    @classmethod
    def for_graph(cls, graph: GraphConfig) -> AuditLog:
        """The audit log configured by the graph's ``[planner]`` table."""
        return cls(audit_path_for(graph), graph.planner.audit_max_bytes, graph.planner.audit_backups)

    def append(self, decision: Decision, phase: str | None = None) -> None:
        """Write ``decision`` as one line and fsync it (``phase="intent"`` before it is applied).

        Raises OSError when the disk refuses.
        """
        record = decision_to_dict(decision)
        if phase is not None:
            record["phase"] = phase
        self.append_record(record)

    def append_record(self, record: dict[str, Any]) -> None:
        """Write one JSON record as a line, durably, starting on a fresh line."""
        self.append_records([record])

    def append_records(self, records: Sequence[dict[str, Any]]) -> None:
        """Write several JSON records, one line each, with one fsync (a writer that batches)."""
        line = b"".join(json_line(record) for record in records)
        if not line:
            return
        with self._lock:
            self._prepare_dir()
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                size = -1
            else:
                if not stat.S_ISREG(st.st_mode):  # never rotate a directory (or a device) away and carry on
                    raise OSError(f"{self.path} is not a regular file")
                size = st.st_size
            if size > 0 and size + len(line) > self.max_bytes:
                self._rotate()
                size = -1
            self._write(line)
            if size < 0:  # a new file: its directory entry must be durable too
                _fsync_dir(self.path.parent)

    def _prepare_dir(self) -> None:
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise NotADirectoryError(f"{parent} is not a directory")
        if self._own_dir or not parent.exists():
            private_dir(parent)

    def _write(self, line: bytes) -> None:
        """Append ``line``, after a newline when the file ends in a torn line, and fsync."""
        fd = open_private(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND)
        with os.fdopen(fd, "ab", buffering=0) as handle:
            size = os.fstat(fd).st_size
            if size > 0 and os.pread(fd, 1, size - 1) != b"\n":
                line = b"\n" + line  # close the torn line a crash mid-write left
            view = memoryview(line)
            while view:
                written = handle.write(view)
                if not written:
                    raise OSError(f"could not write to {self.path}")
                view = view[written:]
            os.fsync(fd)

    def _rotate(self) -> None:
        if self.backups <= 0:
            self.path.unlink(missing_ok=True)
        else:
            for i in range(self.backups - 1, 0, -1):
                older = self.path.with_name(f"{self.path.name}.{i}")
                if older.exists():
                    os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}"))
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        _fsync_dir(self.path.parent)
        log.info("rotated audit log %s", self.path)

    def close(self) -> None:
        """Nothing stays open between appends; kept so owners can close what they opened."""


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def audit_files(path: str | Path) -> list[Path]:
    """The log and its rotated backups, oldest first."""
    path = Path(path)
    backups = []
    for candidate in path.parent.glob(path.name + ".*"):
        suffix = candidate.name[len(path.name) + 1 :]
        if suffix.isdigit():
            backups.append((int(suffix), candidate))
    files = [p for _, p in sorted(backups, reverse=True)]
    if path.exists():
        files.append(path)
    return files


@dataclass
class SkippedLines:
    """Lines a reader could not use, counted per file; ``on_skip(file, reason)`` is told of each."""

    counts: dict[Path, int] = field(default_factory=dict)
    on_skip: Callable[[Path, str], None] | None = None

    def add(self, file: Path, reason: str) -> None:
        """Count one unreadable line of ``file``."""
        self.counts[file] = self.counts.get(file, 0) + 1
        log.debug("skipped an unreadable line in %s: %s", file, reason)
        if self.on_skip is not None:
            self.on_skip(file, reason)

    @property
    def total(self) -> int:
        """Lines skipped in every file."""
        return sum(self.counts.values())

    def messages(self) -> list[str]:
        """``skipped 2 unreadable lines in FILE``, one per file with any."""
        return [f"skipped {plural(n, 'unreadable line')} in {file}" for file, n in self.counts.items()]


#: timestamps a record can hold: from 1970 to the year 5000 (anything else is not a decision's time)
_MAX_TIMESTAMP = 95_617_584_000.0


def record_problem(record: Any) -> str | None:
    """Why ``record`` is not an audit record a reader can show, or None when it is.

    A record is a JSON object with a finite numeric ``timestamp`` a date can be made of, a string
    ``summary`` when present, and a list of objects as ``components`` when present.
    """
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    stamp = record.get("timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float):
        return f"timestamp {stamp!r} is not a number"
    if not math.isfinite(stamp) or not 0 <= stamp <= _MAX_TIMESTAMP:
        return f"timestamp {stamp!r} is out of range"
    summary = record.get("summary", "")
    if not isinstance(summary, str):
        return f"summary {summary!r} is not text"
    components = record.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        return "components is not a list of objects"
    return None


def parse_line(line: str) -> dict[str, Any] | None:
    """One audit record, or None for a blank line, a torn line or a record :func:`record_problem` rejects."""
    record, _ = _parse(line)
    return record


def _parse(line: str) -> tuple[dict[str, Any] | None, str | None]:
    """The record and None, or None and why the line is unreadable (None, None for a blank line)."""
    line = line.strip()
    if not line:
        return None, None
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        return None, f"not JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
    problem = record_problem(record)
    if problem is not None:
        return None, problem
    return record, None


def record_time(record: dict[str, Any]) -> str:
    """The record's timestamp as local ``YYYY-mm-dd HH:MM:SS`` (for a record :func:`record_problem` accepts)."""
    return _dt.datetime.fromtimestamp(float(record["timestamp"])).strftime("%Y-%m-%d %H:%M:%S")


def record_key(record: dict[str, Any]) -> tuple[float, int]:
    """Where ``record`` stands in the log: its timestamp, then 0 for an intent and 1 for an outcome."""
    return _stamp(record), 0 if record.get("phase") == INTENT else 1


class _Intents:
    """Shows a decision once: an intent record is held until the record after it; dropped when that
    is its decision's outcome (same timestamp), shown as it is otherwise."""

    def __init__(self) -> None:
        self.pending: dict[str, Any] | None = None

    def feed(self, record: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        pending, self.pending = self.pending, None
        if pending is not None and (record.get("phase") == INTENT or _stamp(record) != _stamp(pending)):
            out.append(pending)
        if record.get("phase") == INTENT:
            self.pending = record
        else:
            out.append(record)
        return out

    def flush(self) -> list[dict[str, Any]]:
        pending, self.pending = self.pending, None
        return [pending] if pending is not None else []


def read_records(path: str | Path, skipped: SkippedLines | None = None) -> Iterator[dict[str, Any]]:
    """Every readable record of the log and its backups, oldest first, one per decision (an intent
    followed by its outcome shows as the outcome). Unreadable lines are counted in ``skipped``."""
    intents = _Intents()
    for file in audit_files(path):
        for record in _records_in(file, skipped):  # a file rotated away while reading is skipped
            yield from intents.feed(record)
    yield from intents.flush()


def follow_records(
    path: str | Path,
    poll_s: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
    after: float | tuple[float, int] | None = None,
    skipped: SkippedLines | None = None,
    read_up_to: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Records after ``after`` (a timestamp, or a record's :func:`record_key`; default: the newest on
    disk now), as they are appended, across rotations, until ``should_stop()``.

    ``read_up_to`` is the size of the file the caller had already read (its bad lines already
    counted); by default the size when following starts.

    An intent record is shown once the record after it is read: its outcome in its place, or the
    intent as it is. Unreadable lines appended after following started are counted in ``skipped``
    (whose ``on_skip`` hears of each as it is met); those already there are the caller's to count.
    """
    path = Path(path)
    if after is None:
        last = (float("-inf"), 1)
        for record in read_records(path):
            last = max(last, record_key(record))
    else:
        last = after if isinstance(after, tuple) else (after, 1)
    intents = _Intents()

    def newer(records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        nonlocal last
        for record in records:
            key = record_key(record)
            if key > last:  # each record is fed once, in the order written
                last = key
                yield from intents.feed(record)

    try:
        initial = path.stat().st_size if read_up_to is None else read_up_to
    except FileNotFoundError:
        initial = 0
    handle: IO[bytes] | None = None
    inode: int | None = None
    buffer = b""
    try:
        while not should_stop():
            if handle is None:
                try:
                    handle = open(path, "rb")  # noqa: SIM115 - the followed file, closed below
                except FileNotFoundError:
                    time.sleep(poll_s)
                    continue
                inode, buffer = os.fstat(handle.fileno()).st_ino, b""
            counting = skipped
            if initial:  # what was there when following started: already read by the caller
                chunk, initial, counting = handle.read(initial), 0, None
            else:
                chunk = handle.read()
            if chunk:
                *lines, buffer = (buffer + chunk).split(b"\n")
                yield from newer(_parsed(lines, path, counting))
                continue
            try:
                current: int | None = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current == inode:
                time.sleep(poll_s)
                continue
            # Rotated: finish the file followed so far (no one writes to it any more), then every
            # file rotated after it, then follow the new file.
            lines = (buffer + handle.read()).split(b"\n")
            handle.close()
            handle = None
            yield from newer(_parsed(lines, path, skipped))
            for file, counted in _rotated_after(path, inode):
                yield from newer(_records_in(file, skipped if counted else None))
    finally:
        if handle is not None:
            handle.close()


def _rotated_after(path: Path, inode: int | None) -> list[tuple[Path, bool]]:
    """The rotated files newer than the one with ``inode``, oldest first, each with whether its bad
    lines are new to the follower; every rotated file (not counted) when that one is gone."""
    rotated = audit_files(path)[:-1] if path.exists() else audit_files(path)
    for i, file in enumerate(rotated):
        try:
            if os.stat(file).st_ino == inode:
                return [(f, True) for f in rotated[i + 1 :]]
        except FileNotFoundError:
            continue
    return [(f, False) for f in rotated]


def _stamp(record: dict[str, Any]) -> float:
    try:
        return float(record.get("timestamp", 0.0))
    except (TypeError, ValueError):
        return 0.0


def _parsed(lines: Iterable[str | bytes], file: Path, skipped: SkippedLines | None) -> Iterator[dict[str, Any]]:
    for line in lines:
        text = line.decode("utf-8", errors="replace") if isinstance(line, bytes) else line
        record, problem = _parse(text)
        if record is not None:
            yield record
        elif problem is not None and skipped is not None:
            skipped.add(file, problem)


def _records_in(file: Path, skipped: SkippedLines | None = None) -> Iterator[dict[str, Any]]:
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            yield from _parsed(handle, file, skipped)
    except FileNotFoundError:
        return
