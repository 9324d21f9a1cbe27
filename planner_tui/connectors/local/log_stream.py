"""The circus output stream that writes each replica's stdout/stderr lines with a timestamp.

This class runs inside circusd (watchers name it as ``stdout_stream.class``). circus hands a stream
chunks of up to 1 KiB; its own ``time_format`` would stamp a line cut between two chunks twice, so
this stream keeps the partial line until its end arrives. Each line is written as
``<unix time with microseconds> <text>``; files rotate by size like circus's ``FileStream``.
"""

from __future__ import annotations

import time
from typing import Any

from circus.stream import FileStream

#: bytes of a line kept while waiting for its end; longer lines are written in pieces
MAX_PARTIAL = 64 * 1024


class ReplicaLogStream(FileStream):
    """circus ``FileStream`` with per-line timestamps and whole lines only."""

    def __init__(self, filename: str | None = None, max_bytes: int = 0, backup_count: int = 0, **kwargs: Any) -> None:
        super().__init__(filename=filename, max_bytes=max_bytes, backup_count=backup_count)
        self._partial: dict[int, bytes] = {}

    def __call__(self, data: dict[str, Any]) -> None:
        raw = data["data"]
        chunk = raw if isinstance(raw, bytes) else str(raw).encode()
        pid = int(data.get("pid") or 0)
        buffered = self._partial.pop(pid, b"") + chunk
        *lines, rest = buffered.split(b"\n")
        if len(rest) > MAX_PARTIAL:
            lines.append(rest)
            rest = b""
        if rest:
            self._partial[pid] = rest
        if not lines:
            return
        stamp = f"{time.time():.6f} ".encode()
        text = b"".join(stamp + line.rstrip(b"\r") + b"\n" for line in lines).decode("utf-8", errors="replace")
        if self._should_rollover(text):
            self._do_rollover()
        self._file.write(text)
        self._file.flush()
