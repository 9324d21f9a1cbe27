"""Running work on another core while this process goes on: in a forked child when possible.

The dashboard's start-up has work that need not wait for Textual's imports: validating the graph file
(pydantic and the graph's models, about 90 ms) and its first look (the state file, psutil, NVML).
Done in threads it would compete with those imports for this process's GIL; :class:`ForkedSteps`
runs it in one forked child instead, which hands back each step's result, pickled, through a private
pipe as soon as the step is done (so a slow last step, an NVML initialising for seconds, does not
hold back the first).

It forks only while this process has a single thread (a child of a threaded process may inherit a
lock held by a thread that does not exist in it, and hang); otherwise, or when ``fork`` fails, the
steps run in a daemon thread. A child that dies, hangs past the caller's timeout or answers garbage
loses nothing: the caller is told (:class:`NoResult`) and decides; a hung child is killed.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import select
import signal
import struct
import threading
import time
from collections.abc import Callable, Iterator

_LENGTH = struct.Struct("!Q")


class NoResult(RuntimeError):
    """A step gave no result: its child died, answered garbage or did not finish in time."""


class ForkedSteps:
    """Runs the steps of ``steps()`` (a generator: one yielded result per step) from construction on."""

    def __init__(self, steps: Callable[[], Iterator[object]]) -> None:
        self._steps = steps
        self._pid: int | None = None
        self._reader: int | None = None
        self._buffer = b""
        self._queue: queue.Queue[tuple[bool, object]] = queue.Queue()
        self._lock = threading.Lock()
        self._ended = False
        self.forked = hasattr(os, "fork") and threading.active_count() == 1 and self._fork()
        """True when a child runs the steps (else a daemon thread does)."""
        if not self.forked:
            # a daemon thread: a hung driver must never keep the process from exiting
            threading.Thread(target=self._run_here, name="planner-tui-steps", daemon=True).start()

    def _fork(self) -> bool:
        reader, writer = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to spare
            os.close(reader)
            os.close(writer)
            return False
        if pid == 0:  # the child: run, report, exit without the parent's exit handlers
            os.close(reader)
            os._exit(_run_into(self._steps, writer))
        os.close(writer)
        self._pid, self._reader = pid, reader
        return True

    def _run_here(self) -> None:
        try:
            for value in self._steps():
                self._queue.put((True, value))
        except Exception as exc:
            self._queue.put((False, exc))
        else:
            self._queue.put((False, NoResult("the steps gave no further result")))

    def ready(self) -> bool:
        """True when the next result can be had at once (never blocks)."""
        with self._lock:
            if not self.forked:
                return not self._queue.empty()
            while self._frame_size() is None and self._reader is not None:
                readable, _, _ = select.select([self._reader], [], [], 0)
                if not readable:
                    return False
                chunk = os.read(self._reader, 65536)
                if not chunk:
                    return True  # ended: next_result answers at once (with NoResult)
                self._buffer += chunk
            return True

    def next_result(self, timeout: float | None = None) -> object:
        """The next step's result (its exception raised again), waiting at most ``timeout`` seconds;
        :class:`NoResult` when there is none (the child died, hung or ended, or the time ran out)."""
        with self._lock:
            if self.forked:
                outcome = self._next_from_child(timeout)
            else:
                try:
                    outcome = self._queue.get(timeout=timeout)
                except queue.Empty:
                    raise NoResult(f"no result within {timeout:g} s") from None
        ok, value = outcome
        if not ok:
            assert isinstance(value, BaseException)
            raise value
        return value

    def _next_from_child(self, timeout: float | None) -> tuple[bool, object]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ended:
            frame = self._frame()
            if frame is not None:
                try:
                    outcome = pickle.loads(frame)  # our own child, through our own pipe
                except Exception:
                    self._end(kill=True)
                    break
                if isinstance(outcome, tuple) and len(outcome) == 2:
                    return outcome
                self._end(kill=True)
                break
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            assert self._reader is not None
            ready, _, _ = select.select([self._reader], [], [], left)
            if not ready:  # hung: stop it, so nothing is left behind
                self._end(kill=True)
                raise NoResult(f"no result within {timeout:g} s")
            chunk = os.read(self._reader, 65536)
            if not chunk:
                self._end(kill=False)
                break
            self._buffer += chunk
        raise NoResult("the child gave no further result")

    def _frame_size(self) -> int | None:
        """The size of the complete frame at the buffer's head, if there is one."""
        if len(self._buffer) < _LENGTH.size:
            return None
        (size,) = _LENGTH.unpack_from(self._buffer)
        return size if len(self._buffer) >= _LENGTH.size + size else None

    def _frame(self) -> bytes | None:
        size = self._frame_size()
        if size is None:
            return None
        frame = self._buffer[_LENGTH.size : _LENGTH.size + size]
        self._buffer = self._buffer[_LENGTH.size + size :]
        return frame

    def _end(self, kill: bool) -> None:
        """Close the pipe and reap the child (killing it first when asked)."""
        self._ended = True
        if self._reader is not None:
            os.close(self._reader)
            self._reader = None
        if self._pid is not None:
            if kill:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self._pid, signal.SIGKILL)
            os.waitpid(self._pid, 0)
            self._pid = None

    def close(self) -> None:
        """Stop a child still running (its results are not wanted any more)."""
        with self._lock:
            if self.forked and not self._ended:
                self._end(kill=True)


def _run_into(steps: Callable[[], Iterator[object]], writer: int) -> int:
    """In the child: write each step's pickled outcome to ``writer`` as it comes; the exit code."""
    try:
        for value in steps():
            _write(writer, pickle.dumps((True, value)))
    except BaseException as exc:  # the parent sees the exception (or no result if it cannot be pickled)
        with contextlib.suppress(Exception):
            _write(writer, pickle.dumps((False, exc)))
        return 1
    return 0


def _write(writer: int, payload: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(payload)) + payload)
    while view:
        view = view[os.write(writer, view) :]
