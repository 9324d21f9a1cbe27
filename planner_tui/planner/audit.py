"""The audit log: every decision appended as one JSON line, flushed and fsynced, rotated by size.

A line is on disk before the decision is reported to anyone, so a crash loses none. Rotation keeps
``backups`` older files (``decisions.jsonl.1`` is the newest of them). Readers skip a torn last
line (a crash in the middle of a write) instead of failing on it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

from planner_tui.config.graph import GraphConfig
from planner_tui.config.paths import state_dir
from planner_tui.model.decisions import Decision
from planner_tui.planner.records import decision_to_dict

log = logging.getLogger(__name__)

AUDIT_FILE_NAME = "decisions.jsonl"


def default_audit_path(namespace: str) -> Path:
    """``<state dir>/<namespace>/decisions.jsonl``."""
    return state_dir() / namespace / AUDIT_FILE_NAME


def audit_path_for(graph: GraphConfig) -> Path:
    """The graph's audit log: ``planner.audit_log`` when set, else the default under the state dir."""
    if graph.planner.audit_log:
        return Path(graph.planner.audit_log).expanduser()
    return default_audit_path(graph.namespace)


class AuditLog:
    """Appends decisions to a JSON-lines file durably; safe to call from several threads."""

    def __init__(self, path: str | Path, max_bytes: int = 10 * 1024 * 1024, backups: int = 3) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._file: IO[bytes] | None = None

    @classmethod
    def for_graph(cls, graph: GraphConfig) -> AuditLog:
        """The audit log configured by the graph's ``[planner]`` table."""
        return cls(audit_path_for(graph), graph.planner.audit_max_bytes, graph.planner.audit_backups)

    def _open(self) -> IO[bytes]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")  # noqa: SIM115 - kept open between appends
        return self._file

    def append(self, decision: Decision) -> None:
        """Write ``decision`` as one line and fsync it. Raises OSError when the disk refuses."""
        self.append_record(decision_to_dict(decision))

    def append_record(self, record: dict[str, Any]) -> None:
        """Write one JSON record as a line, durably."""
        line = (json.dumps(record, separators=(",", ":"), allow_nan=False, default=str) + "\n").encode()
        with self._lock:
            handle = self._open()
            size = handle.tell()
            if size > 0 and size + len(line) > self.max_bytes:
                self._rotate()
                handle = self._open()
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def _rotate(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
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
        """Close the file (appending again reopens it)."""
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


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


def parse_line(line: str) -> dict[str, Any] | None:
    """One audit record, or None for a blank or torn line."""
    line = line.strip()
    if not line:
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        return None
    return record if isinstance(record, dict) else None


def read_records(path: str | Path) -> Iterator[dict[str, Any]]:
    """Every readable record of the log and its backups, oldest first."""
    for file in audit_files(path):
        yield from _records_in(file)  # a file rotated away while reading is skipped


def follow_records(
    path: str | Path,
    poll_s: float = 0.5,
    should_stop: Callable[[], bool] = lambda: False,
    after: float | None = None,
) -> Iterator[dict[str, Any]]:
    """Records with a timestamp later than ``after`` (default: the newest on disk now), as they are
    appended, across rotations, until ``should_stop()``.

    Records are told apart by their timestamps (the runner writes them in time order), so a rotation
    between two polls loses nothing: what went into the rotated files is read from there.
    """
    path = Path(path)
    last_ts = float("-inf")
    if after is not None:
        last_ts = after
    else:
        for record in read_records(path):
            last_ts = max(last_ts, _stamp(record))
    handle: IO[str] | None = None
    inode: int | None = None
    buffer = ""
    try:
        while not should_stop():
            if handle is None:
                try:
                    handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 - followed file
                except FileNotFoundError:
                    time.sleep(poll_s)
                    continue
                inode = os.fstat(handle.fileno()).st_ino
                buffer = ""
                # Whatever reached rotated files since the last record seen.
                for file in audit_files(path)[:-1]:
                    for record in _records_in(file):
                        if _stamp(record) > last_ts:
                            last_ts = _stamp(record)
                            yield record
            chunk = handle.read()
            if chunk:
                buffer += chunk
                *lines, buffer = buffer.split("\n")
                for line in lines:
                    parsed = parse_line(line)
                    if parsed is not None and _stamp(parsed) > last_ts:
                        last_ts = _stamp(parsed)
                        yield parsed
                continue
            try:
                current: int | None = os.stat(path).st_ino
            except FileNotFoundError:
                current = None
            if current != inode:  # rotated: the old file is fully read; open the new one
                handle.close()
                handle = None
                continue
            time.sleep(poll_s)
    finally:
        if handle is not None:
            handle.close()


def _stamp(record: dict[str, Any]) -> float:
    try:
        return float(record.get("timestamp", 0.0))
    except (TypeError, ValueError):
        return 0.0


def _records_in(file: Path) -> Iterator[dict[str, Any]]:
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                record = parse_line(line)
                if record is not None:
                    yield record
    except FileNotFoundError:
        return
