"""The service's audit log: every request and its outcome, one JSON line each, fsynced before the answer.

The file is the planner's audit-log format (:class:`planner_tui.planner.audit.AuditLog`: 0600 in a
0700 directory, rotated by size, torn lines skipped by readers), so ``planner-tui global-planner log``
reads it with the same reader as ``planner-tui decisions``. A request that changes replicas is
written twice, like a planner decision: an *intent* record before it is applied and the outcome
after it (same timestamp); a request refused before anything is applied is written once.

Writes are batched (group commit): one writer thread takes every record queued meanwhile, writes
them and fsyncs once, then wakes their requests; no answer is sent before its record is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import queue
import threading
from collections import deque
from pathlib import Path
from typing import Any

from planner_tui.config.paths import state_dir
from planner_tui.planner.audit import INTENT, AuditLog

log = logging.getLogger(__name__)

REQUESTS_FILE_NAME = "requests.jsonl"
#: records waiting to be written at most; beyond it requests are refused (503) rather than queued
MAX_PENDING = 10_000
#: recent outcomes kept in memory for the status endpoint (the dashboard)
RECENT = 200


def default_log_path(namespace: str) -> Path:
    """``<state dir>/global-planner/<namespace>/requests.jsonl``."""
    return state_dir() / "global-planner" / namespace / REQUESTS_FILE_NAME


def iso_time(timestamp: float) -> str:
    """UTC ISO time with milliseconds."""
    return _dt.datetime.fromtimestamp(timestamp, _dt.UTC).isoformat(timespec="milliseconds")


class LogBacklogged(Exception):
    """Too many records wait to be written; the request is refused."""


_Item = tuple[dict[str, Any], asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class RequestLog:
    """Appends request records durably from a writer thread; :meth:`write` returns once on disk."""

    def __init__(self, path: str | Path, max_bytes: int = 50 * 1024 * 1024, backups: int = 5) -> None:
        self.audit = AuditLog(path, max_bytes=max_bytes, backups=backups)
        self.path = self.audit.path
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT)
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0

    def start(self) -> None:
        """Start the writer thread (the file is created, 0600, by the first write)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._writer, name="global-planner-audit", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is queued, then stop the writer (bounded by ``timeout``)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._queue.put(None)
        thread.join(timeout)
        if thread.is_alive():
            log.error("the audit log writer did not stop within %.0f s", timeout)

    async def write(self, record: dict[str, Any], phase: str | None = None) -> None:
        """Append ``record`` (``phase="intent"`` before a change is applied); returns once fsynced.

        Raises :class:`LogBacklogged` when too many records wait, OSError when the disk refuses.
        """
        if self._thread is None:
            raise OSError("the audit log is not open")
        if phase is not None:
            record = {**record, "phase": phase}
        with self._lock:
            if self._pending >= MAX_PENDING:
                raise LogBacklogged(f"{self._pending} audit records are waiting to be written")
            self._pending += 1
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queue.put((record, loop, done))
        await asyncio.shield(done)  # a cancelled request still gets its record written
        if phase != INTENT:
            self.recent.append(record)

    def _writer(self) -> None:
        stopping = False
        while not stopping:
            batch: list[_Item] = []
            item = self._queue.get()
            while True:
                if item is None:
                    stopping = True
                else:
                    batch.append(item)
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
            if not batch:
                continue
            error: BaseException | None = None
            try:
                self.audit.append_records([record for record, _, _ in batch])
                self.batches += 1
            except Exception as exc:  # the disk, permissions: every request of the batch hears of it
                error = exc
                log.error("cannot write the audit log %s: %s", self.path, exc)
            with self._lock:
                self._pending -= len(batch)
            for _, loop, done in batch:
                with contextlib.suppress(RuntimeError):  # a loop that closed meanwhile
                    loop.call_soon_threadsafe(_settle, done, error)


def _settle(done: asyncio.Future[None], error: BaseException | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(OSError(f"cannot write the audit log: {error}"))
