"""Validating a graph file on another core while this process goes on (the dashboard's start-up).

Validation needs pydantic and the graph's models: about 90 ms of imports on a laptop-class core, as
long as Textual's. :class:`GraphCheck` forks a child that validates the text and reports its problems
through a pipe, while the parent loads the dashboard; :meth:`GraphCheck.wait` then raises the same
:class:`~planner_tui.config.errors.ConfigError` :func:`~planner_tui.config.parse_graph` would, before
anything is drawn. It forks only while this process has one thread, so the child inherits no held
lock. Where the child cannot answer (no ``fork``, killed, any failure of its own) the parent validates
the text itself.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from typing import Any

from planner_tui.config.errors import ConfigError, Problem

#: the child's exit codes
_VALID, _INVALID = 0, 3


class GraphCheck:
    """Validates graph-file ``text`` in a forked child from construction on."""

    def __init__(self, text: str, source: str) -> None:
        self.text = text
        self.source = source
        self._pid: int | None = None
        self._reader: int | None = None
        if hasattr(os, "fork") and threading.active_count() == 1:  # a child of a threaded process may hang
            self._fork()

    def _fork(self) -> None:
        reader, writer = os.pipe()
        try:
            pid = os.fork()
        except OSError:  # no process to spare: the parent checks
            os.close(reader)
            os.close(writer)
            return
        if pid == 0:  # the child: validate, report, exit without running the parent's exit handlers
            os.close(reader)
            os._exit(self._validate_into(writer))
        os.close(writer)
        self._pid, self._reader = pid, reader

    def _validate_into(self, writer: int) -> int:
        code, payload = 1, b""
        try:
            from planner_tui.config.loader import parse_graph

            parse_graph(self.text, self.source)
            code = _VALID
        except ConfigError as exc:
            payload = json.dumps([[list(p.loc), p.message] for p in exc.problems]).encode()
            code = _INVALID
        except BaseException:  # anything else (Ctrl-C included): the parent validates and reports it
            code = 1
        with contextlib.suppress(OSError):
            view = memoryview(payload)
            while view:
                view = view[os.write(writer, view) :]
            os.close(writer)
        return code

    def wait(self) -> None:
        """Return once the text is known valid; raise :class:`ConfigError` listing its problems."""
        if self._pid is None or self._reader is None:
            self._check_here()
            return
        chunks: list[bytes] = []
        with os.fdopen(self._reader, "rb") as pipe:
            self._reader = None
            while chunk := pipe.read(65536):
                chunks.append(chunk)
        _, status = os.waitpid(self._pid, 0)
        self._pid = None
        code = os.waitstatus_to_exitcode(status)
        if code == _VALID:
            return
        problems = _problems(b"".join(chunks)) if code == _INVALID else None
        if problems is None:  # the child could not tell: check here
            self._check_here()
            return
        raise ConfigError(self.source, problems)

    def _check_here(self) -> None:
        from planner_tui.config.loader import parse_graph

        parse_graph(self.text, self.source)


def _problems(payload: bytes) -> list[Problem] | None:
    try:
        data: Any = json.loads(payload)
        return [Problem(tuple(loc), str(message)) for loc, message in data]
    except (ValueError, TypeError):
        return None
