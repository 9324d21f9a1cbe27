"""The owner's feed: its Snapshots, decisions and planner state on a Unix socket, for observers.

A second dashboard or ``plan`` and ``planner-tui status`` read the owner's Snapshots here instead of
collecting (and touching the graph) themselves. The socket lives in the user's private socket
directory (0700) and a connection from another user is refused by its peer credentials as well.

The protocol is JSON lines, owner to observer only::

    {"type": "hello", "version": 1, "owner": {...}, "graph": {...}, "connector": "local", "read_only": false}
    {"type": "state", "mode": "auto", "next_tick_at": 1.0, "pins": {...}, "problems": [...]}
    {"type": "snapshot", "data": {...}}          # planner_tui.metrics.snapshot_json form
    {"type": "decision", "data": {...}}          # the audit log's record form
    {"type": "error", "message": "..."}
    {"type": "synced"}                           # the end of what a new observer is sent first

A new observer gets the hello, the state, the latest Snapshot and the recent decisions, then
``synced``, then every event as it happens. An observer that falls :data:`CLIENT_QUEUE` lines behind is disconnected
rather than slowing the owner down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

from planner_tui.metrics.snapshot_json import snapshot_to_dict
from planner_tui.model.decisions import Decision
from planner_tui.model.snapshot import Snapshot
from planner_tui.planner.records import decision_to_dict
from planner_tui.runtime.events import DecisionMade, SessionError, SessionEvent, SnapshotReady
from planner_tui.runtime.ownership import OwnerInfo
from planner_tui.runtime.source import GraphFeed

log = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
#: lines an observer may fall behind before it is disconnected
CLIENT_QUEUE = 256
#: decisions a new observer is sent on connecting
RECENT_DECISIONS = 50


def encode(message: dict[str, Any]) -> bytes:
    """One protocol line (both ends are planner-tui: NaN travels as JSON's ``NaN``)."""
    return (json.dumps(message, separators=(",", ":"), default=str) + "\n").encode()


def peer_uid(sock: socket.socket | None) -> int | None:
    """The uid of the process at the other end of a Unix socket (Linux), None where unknown."""
    if sock is None or not hasattr(socket, "SO_PEERCRED"):
        return None
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", raw)
    return int(uid)


class SnapshotPublisher:
    """Serves one session's feed on ``path`` until :meth:`stop`."""

    def __init__(
        self,
        session: GraphFeed,
        path: Path,
        owner: OwnerInfo,
        hello: dict[str, Any],
        state: Callable[[], dict[str, Any]],
    ) -> None:
        self.session = session
        self.path = path
        self.owner = owner
        self._hello = hello
        self._state = state
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Queue[bytes | None]] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._pump: asyncio.Task[None] | None = None
        self.refused = 0  # connections refused for their peer's uid

    @property
    def clients(self) -> int:
        """Observers connected now."""
        return len(self._clients)

    async def start(self) -> None:
        """Listen on the socket (a stale file from a dead owner is replaced)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o077)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        finally:
            os.umask(old)
        os.chmod(self.path, 0o600)
        queue = self.session.subscribe()
        self._pump = asyncio.get_running_loop().create_task(self._forward(queue), name="publisher")

    async def stop(self, timeout: float = 2.0) -> None:
        """Stop listening, end every observer's stream and remove the socket. Bounded by ``timeout``."""
        if self._server is not None:
            self._server.close()
        for queue in list(self._clients):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(None)
        tasks = [t for t in (self._pump, *self._handlers) if t is not None]
        if self._pump is not None:
            self._pump.cancel()
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                task.cancel()
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout)
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def _state_line(self) -> bytes:
        return encode({"type": "state", **self._state()})

    async def _forward(self, queue: asyncio.Queue[SessionEvent]) -> None:
        try:
            while True:
                event = await queue.get()
                if not self._clients:
                    continue
                lines = self._lines_of(event)
                for client in list(self._clients):
                    for line in lines:
                        if client.full():
                            self._clients.discard(client)  # too slow: its handler ends the stream
                            with contextlib.suppress(asyncio.QueueEmpty):
                                client.get_nowait()
                            client.put_nowait(None)
                            break
                        client.put_nowait(line)
        finally:
            self.session.unsubscribe(queue)

    def _lines_of(self, event: SessionEvent) -> list[bytes]:
        if isinstance(event, SnapshotReady):
            return [self._state_line(), _snapshot_line(event.snapshot)]
        if isinstance(event, DecisionMade):
            return [_decision_line(event.decision), self._state_line()]
        if isinstance(event, SessionError):
            return [encode({"type": "error", "message": event.message})]
        return []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=CLIENT_QUEUE)
        try:
            uid = peer_uid(writer.get_extra_info("socket"))
            if uid is not None and uid != os.getuid():
                self.refused += 1
                log.warning("refused an observer of uid %s on %s", uid, self.path)
                return
            writer.write(encode({"type": "hello", "version": PROTOCOL_VERSION, **self._hello}))
            writer.write(self._state_line())
            latest = self.session.latest_snapshot
            if latest is not None:
                writer.write(_snapshot_line(latest))
            for decision in list(self.session.decisions)[-RECENT_DECISIONS:]:
                writer.write(_decision_line(decision))
            writer.write(encode({"type": "synced"}))  # the observer is now as up to date as the owner
            await writer.drain()
            self._clients.add(queue)
            closed = asyncio.ensure_future(reader.read())  # observers send nothing: this ends at their EOF
            try:
                while True:
                    getter = asyncio.ensure_future(queue.get())
                    done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                    if getter not in done:
                        getter.cancel()
                        return
                    line = getter.result()
                    if line is None:
                        return
                    writer.write(line)
                    await writer.drain()
            finally:
                closed.cancel()
        except (ConnectionError, OSError):
            return
        finally:
            self._clients.discard(queue)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            if task is not None:
                self._handlers.discard(task)


def _snapshot_line(snapshot: Snapshot) -> bytes:
    return encode({"type": "snapshot", "data": snapshot_to_dict(snapshot)})


def _decision_line(decision: Decision) -> bytes:
    return encode({"type": "decision", "data": decision_to_dict(decision)})
