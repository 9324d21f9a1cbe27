"""Leases on a graph: held for the holder's life, taken atomically, readable by everyone.

A lease is an exclusive ``flock`` on ``<state dir>/owners/<name>.lease``. The kernel takes it
atomically and drops it when the holder's process ends however it ends (a ``kill -9`` included), so
a lease is never left behind by a dead holder and two processes can never both hold it. While held,
the file says who holds it (pid, host, since, the socket its Snapshots are published on), so a
second ``plan``, dashboard or ``status`` can say who holds the graph.

Two leases exist per graph: the planner's ownership (``<namespace>``, taken by the runtime's
Session: one planner per graph, :mod:`planner_tui.runtime.ownership`) and the writer's
(``<namespace>.executor``, taken by the local connector that runs the graph's processes: one
process changes them, whether it is a planner or a Global Planner service). They live here, below
both the connectors and the runtime.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from planner_tui.config.paths import open_private, private_dir, state_dir

#: bytes of a lease file read at most (it holds one small JSON object)
MAX_LEASE_BYTES = 64 * 1024
#: tries to take a lease that a reader may be looking at in the same instant
TAKE_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class OwnerInfo:
    """Who owns a graph: the owner's pid, host, start time, command and published socket."""

    namespace: str
    pid: int
    host: str
    since: float
    command: str = ""
    socket: str | None = None

    @classmethod
    def unknown(cls, namespace: str) -> OwnerInfo:
        """A held lease whose holder has not written who it is yet (it is starting up)."""
        return cls(namespace, 0, "?", 0.0)

    def describe(self) -> str:
        """``pid 123 on host since 12:00:01 (planner-tui plan)``: for messages and the header."""
        if self.pid == 0:
            return "another process that is starting up"
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        what = f" ({self.command})" if self.command else ""
        return f"pid {self.pid} on {self.host} since {stamp}{what}"

    @classmethod
    def from_json(cls, data: Any) -> OwnerInfo:
        """Read the lease file's JSON; ValueError when it does not fit."""
        if not isinstance(data, dict):
            raise ValueError("the lease file does not hold an object")
        pid, since, sock = data.get("pid"), data.get("since"), data.get("socket")
        if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
            raise ValueError(f"bad pid {pid!r}")
        if not isinstance(since, int | float) or isinstance(since, bool):
            raise ValueError(f"bad since {since!r}")
        if sock is not None and not isinstance(sock, str):
            raise ValueError(f"bad socket {sock!r}")
        return cls(
            namespace=str(data.get("namespace", "")),
            pid=pid,
            host=str(data.get("host", "?")),
            since=float(since),
            command=str(data.get("command", "")),
            socket=sock,
        )


class GraphOwnedError(RuntimeError):
    """The graph already has an owner: attach as an observer instead."""

    def __init__(self, owner: OwnerInfo, namespace: str) -> None:
        self.owner = owner
        self.namespace = namespace
        super().__init__(f"the graph of namespace {namespace} is owned by {owner.describe()}")


def lease_path(namespace: str, root: Path | None = None) -> Path:
    """``<state dir>/owners/<namespace>.lease``."""
    return (root if root is not None else state_dir()) / "owners" / f"{namespace}.lease"


def _command_line() -> str:
    argv = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:3]]
    return " ".join(argv)[:200]


class GraphLease:
    """The held lease of one graph; :meth:`release` (or the process's end) gives it up."""

    def __init__(self, namespace: str, path: Path, fd: int) -> None:
        self.namespace = namespace
        self.path = path
        self._fd: int | None = fd
        self.info = OwnerInfo(namespace, os.getpid(), socket.gethostname(), time.time(), _command_line())
        self._write()

    @classmethod
    def try_take(cls, namespace: str, root: Path | None = None) -> GraphLease:
        """Take the lease now, or raise :class:`GraphOwnedError` naming the owner. Never blocks."""
        path = lease_path(namespace, root)
        private_dir(path.parent)
        fd = open_private(path, os.O_RDWR | os.O_CREAT)
        for attempt in range(TAKE_ATTEMPTS):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return cls(namespace, path, fd)
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise
            # A reader (read_owner) holds a shared lock for a few microseconds: only a lease
            # still held after a few tries has an owner.
            owner = read_owner(namespace, root)
            if owner is not None or attempt == TAKE_ATTEMPTS - 1:
                os.close(fd)
                raise GraphOwnedError(owner or OwnerInfo.unknown(namespace), namespace)
            time.sleep(0.005)
        raise AssertionError("unreachable")

    @property
    def held(self) -> bool:
        """True until released."""
        return self._fd is not None

    def publish_socket(self, path: str | None) -> None:
        """Record the socket the owner's Snapshots are published on."""
        self.info = OwnerInfo(**{**asdict(self.info), "socket": path})
        self._write()

    def _write(self) -> None:
        if self._fd is None:
            return
        data = json.dumps(asdict(self.info)).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)
        os.fsync(self._fd)

    def release(self) -> None:
        """Give the lease up (the file stays; an unlocked file means nobody owns the graph)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing drops the flock

    def __enter__(self) -> GraphLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_owner(namespace: str, root: Path | None = None) -> OwnerInfo | None:
    """The graph's owner, or None when nobody holds its lease (never takes it)."""
    path = lease_path(namespace, root)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
        else:
            return None  # we could lock it: nobody holds the lease (our shared lock ends with the close)
        raw = os.pread(fd, MAX_LEASE_BYTES, 0)
    finally:
        os.close(fd)
    try:
        return OwnerInfo.from_json(json.loads(raw))
    except ValueError:
        return OwnerInfo.unknown(namespace)  # held, but its owner has not written who it is yet
