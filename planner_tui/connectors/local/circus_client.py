"""An asyncio-native client for circusd's control and pub/sub endpoints.

circus's own ``AsyncCircusClient`` breaks on concurrent calls (``InvalidStateError``, then a hang). This client
owns one zmq DEALER socket, tags every request with a fresh ``id`` and resolves the waiting future
whose id the reply carries, so any number of coroutines can call at once. circusd answers errno 5
("arbiter is already running ... command") while another exclusive command runs: those calls are
retried with backoff until the call's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

import zmq
import zmq.asyncio

from planner_tui.connectors.errors import ConnectorError

log = logging.getLogger(__name__)

#: circus's errno for "another exclusive command is running" (circus.commands.errors.COMMAND_ERROR);
#: circus uses the same errno for any failed command, so the reason text is checked too
ERRNO_BUSY = 5
BUSY_REASONS = ("is already running", "arbiter is restarting")


def _busy(errno: object, reason: str) -> bool:
    return errno == ERRNO_BUSY and any(text in reason for text in BUSY_REASONS)


class CircusCommandError(ConnectorError):
    """circusd answered a command with an error."""

    def __init__(self, command: str, endpoint: str, reason: str, errno: int | None) -> None:
        if reason.startswith("command b'") and "': " in reason:
            reason = reason.rsplit("': ", 1)[1]  # circus echoes the whole request (env included) first
        self.command = command
        self.endpoint = endpoint
        self.reason = reason
        self.errno = errno
        super().__init__(f"circus command {command!r} at {endpoint} failed: {reason}")


class CircusClient:
    """Concurrent-safe request/reply client for one circusd control endpoint.

    ``timeout`` bounds each call (including errno-5 retries); a call that gets no answer raises
    :class:`ConnectorError` naming the command and the endpoint.
    """

    def __init__(self, endpoint: str, timeout: float = 10.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._context = zmq.asyncio.Context.instance()
        self._socket: zmq.asyncio.Socket | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._closed = False
        self.busy_retries = 0  # errno-5 answers retried so far (circusd was busy with another command)

    def _ensure_socket(self) -> zmq.asyncio.Socket:
        if self._closed:
            raise ConnectorError(f"circus client for {self.endpoint} is closed")
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IDENTITY, uuid.uuid4().hex.encode())
            sock.connect(self.endpoint)
            self._socket = sock
            self._reader = asyncio.get_running_loop().create_task(self._read_replies(sock))
        return self._socket

    async def _read_replies(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            try:
                frames = await sock.recv_multipart()
            except (zmq.ZMQError, asyncio.CancelledError):
                return
            for frame in frames:
                try:
                    reply = json.loads(frame)
                except ValueError:
                    log.debug("ignoring a non-JSON frame from %s", self.endpoint)
                    continue
                future = self._pending.pop(str(reply.get("id")), None)
                if future is not None and not future.done():
                    future.set_result(reply)

    async def call(self, command: str, timeout: float | None = None, **properties: Any) -> dict[str, Any]:
        """Send ``command`` with ``properties``; return circusd's reply (``status == "ok"``).

        Raises :class:`CircusCommandError` for an error reply and :class:`ConnectorError` on timeout.
        """
        deadline = asyncio.get_running_loop().time() + (timeout or self.timeout)
        delay = 0.005
        while True:
            reply = await self._call_once(command, properties, deadline)
            if reply.get("status") == "ok":
                return reply
            errno = reply.get("errno")
            reason = str(reply.get("reason", "unknown error"))
            if _busy(errno, reason) and asyncio.get_running_loop().time() + delay < deadline:
                self.busy_retries += 1
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)
                continue
            raise CircusCommandError(command, self.endpoint, reason, errno)

    async def _call_once(self, command: str, properties: dict[str, Any], deadline: float) -> dict[str, Any]:
        sock = self._ensure_socket()
        call_id = uuid.uuid4().hex
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        message = {"id": call_id, "command": command, "properties": properties}
        try:
            await sock.send(json.dumps(message).encode())
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation that races
            # with the reply, which would keep a cancelled caller (a monitor loop) running
            async with asyncio.timeout(remaining):
                return await future
        except TimeoutError:
            raise ConnectorError(
                f"circus command {command!r} to {self.endpoint} got no answer in time; is circusd running?"
            ) from None
        except zmq.ZMQError as exc:
            raise ConnectorError(f"circus command {command!r} to {self.endpoint} failed: {exc}") from None
        finally:
            self._pending.pop(call_id, None)

    async def close(self) -> None:
        """Close the socket and stop the reply reader (bounded)."""
        self._closed = True
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._reader, 1.0)
            self._reader = None
        if self._socket is not None:
            self._socket.close(linger=0)
            self._socket = None
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectorError(f"circus client for {self.endpoint} closed"))
        self._pending.clear()


async def circus_events(endpoint: str, topic: str = "watcher.") -> AsyncIterator[tuple[str, dict[str, Any]]]:
    """Yield ``(topic, event)`` from circusd's pub/sub endpoint, e.g. ``("watcher.ns_a_0.reap", {...})``.

    Runs until cancelled; closes its socket on the way out.
    """
    sock = zmq.asyncio.Context.instance().socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.SUBSCRIBE, topic.encode())
    sock.connect(endpoint)
    try:
        while True:
            frames = await sock.recv_multipart()
            if len(frames) < 2:
                continue
            try:
                event = json.loads(frames[1])
            except ValueError:
                continue
            if isinstance(event, dict):
                yield frames[0].decode(errors="replace"), event
    finally:
        sock.close(linger=0)
