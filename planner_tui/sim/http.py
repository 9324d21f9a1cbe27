"""A small HTTP/1.1 server and keep-alive JSON client on asyncio streams, for the sim processes.

The sim replicas must stay small and start fast, so they use this instead of an HTTP framework. The
server speaks enough HTTP/1.1 for Prometheus, httpx, curl and the sim's own client: request line,
headers, ``Content-Length`` bodies, keep-alive. Kept over the alternatives (measured): the stdlib's
``http.server`` is blocking (a thread per connection, bridged into the sim's event loop), tornado (a
dependency already, through circus) adds ~6.6 MB of RSS to each process (16 replicas: ~100 MB) where
this module adds ~0.4 MB to asyncio; only the framing is written here, the transport is asyncio's.
It binds to 127.0.0.1 by default and refuses a non-loopback address unless ``allow_remote`` is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

log = logging.getLogger(__name__)

MAX_BODY = 4 * 1024 * 1024
REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass(frozen=True, slots=True)
class Request:
    """A parsed request."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body parsed as JSON; ValueError with the reason when it is not."""
        try:
            return json.loads(self.body or b"null")
        except json.JSONDecodeError as exc:
            raise ValueError(f"the body is not valid JSON: {exc}") from None


@dataclass(frozen=True, slots=True)
class Response:
    """A response to send."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        """A JSON response."""
        return cls(status, json.dumps(data).encode(), "application/json")

    @classmethod
    def error(cls, status: int, message: str) -> Response:
        """A JSON error ``{"error": message}``."""
        return cls.json({"error": message}, status)


Handler = Callable[[Request], Awaitable[Response]]


class ListenError(Exception):
    """The server could not bind its address (in use, not allowed)."""


class HttpServer:
    """Routes ``(method, path)`` to async handlers."""

    def __init__(
        self,
        routes: dict[tuple[str, str], Handler],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
    ) -> None:
        self.routes = routes
        self.host = host
        self.port = port
        self.allow_remote = allow_remote
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        """Listen; ``port`` is updated to the bound port when it was 0.

        Raises :class:`ListenError` naming the address and the fix when it cannot listen, or when ``host``
        is not a loopback address and ``allow_remote`` was not given.
        """
        from planner_tui.sim.auth import check_bind_host

        try:
            check_bind_host(self.host, self.allow_remote)
        except ValueError as exc:
            raise ListenError(str(exc)) from None
        try:
            self._server = await asyncio.start_server(self._serve, self.host, self.port, reuse_address=True)
        except OSError as exc:
            raise ListenError(
                f"cannot listen on {self.host}:{self.port}: {exc.strerror or exc}; "
                "choose another --port (or stop the process using it)"
            ) from None
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        """Stop listening and drop open connections (bounded)."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        if self._connections:
            await asyncio.wait(self._connections, timeout=2.0)
        if self._server is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 2.0)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                if isinstance(request, Response):
                    await _write_response(writer, request, keep_alive=False)
                    break
                response = await self._dispatch(request)
                keep_alive = request.headers.get("connection", "").lower() != "close"
                await _write_response(writer, response, keep_alive)
                if not keep_alive:
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _dispatch(self, request: Request) -> Response:
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            allowed = [m for m, p in self.routes if p == request.path]
            if allowed:
                return Response.error(405, f"{request.method} not allowed on {request.path}; use {', '.join(allowed)}")
            paths = sorted({p for _, p in self.routes})
            return Response.error(404, f"no such path {request.path}; known: {', '.join(paths)}")
        try:
            return await handler(request)
        except ValueError as exc:
            return Response.error(400, str(exc))
        except Exception:
            log.exception("handler for %s %s failed", request.method, request.path)
            return Response.error(500, "internal error; see the process log")


async def _read_request(reader: asyncio.StreamReader) -> Request | Response | None:
    line = await reader.readline()
    if not line:
        return None
    try:
        method, target, _version = line.decode("latin-1").split()
    except ValueError:
        return Response.error(400, "malformed request line")
    headers = await _read_headers(reader)
    length = int(headers.get("content-length", "0") or 0)
    if length > MAX_BODY:
        return Response.error(413, f"body larger than {MAX_BODY} bytes")
    body = await reader.readexactly(length) if length else b""
    parts = urlsplit(target)
    return Request(method.upper(), parts.path, dict(parse_qsl(parts.query)), headers, body)


async def _read_headers(reader: asyncio.StreamReader) -> dict[str, str]:
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            return headers
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()


async def _write_response(writer: asyncio.StreamWriter, response: Response, keep_alive: bool) -> None:
    reason = REASONS.get(response.status, "OK")
    head = [
        f"HTTP/1.1 {response.status} {reason}",
        f"Content-Type: {response.content_type}",
        f"Content-Length: {len(response.body)}",
        f"Connection: {'keep-alive' if keep_alive else 'close'}",
        *(f"{k}: {v}" for k, v in response.headers.items()),
    ]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)
    await writer.drain()


class HttpError(Exception):
    """A request that got no answer, or an answer that is not 2xx."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class JsonClient:
    """One keep-alive connection to ``host:port`` for JSON requests (reconnects after errors).

    Requests on one client are serialised; use one client per concurrent stream of calls. ``token``, when
    set, is sent as ``Authorization: Bearer <token>``.
    """

    def __init__(self, base_url: str, token: str | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"expected a URL like http://127.0.0.1:21080, got {base_url!r}")
        self.host = parts.hostname
        self.port = parts.port or 80
        self.token = token
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def request(self, method: str, path: str, payload: Any = None, timeout: float = 10.0) -> Any:
        """Send ``payload`` as JSON and return the parsed JSON answer; :class:`HttpError` otherwise."""
        async with self._lock:
            try:
                return await asyncio.wait_for(self._exchange(method, path, payload), timeout)
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                await self.close()
                raise HttpError(f"{method} {path} on {self.host}:{self.port} failed: {exc!r}") from None

    async def _exchange(self, method: str, path: str, payload: Any) -> Any:
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        body = b"" if payload is None else json.dumps(payload).encode()
        auth = f"Authorization: Bearer {self.token}\r\n" if self.token else ""
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        self._writer.write(head.encode("latin-1") + body)
        await self._writer.drain()
        status_line = await self._reader.readline()
        if not status_line:
            raise ConnectionResetError("connection closed")
        status = int(status_line.split()[1])
        headers = await _read_headers(self._reader)
        data = await self._reader.readexactly(int(headers.get("content-length", "0") or 0))
        if headers.get("connection", "").lower() == "close":
            await self.close()
        parsed = json.loads(data) if data else None
        if not 200 <= status < 300:
            message = parsed.get("error") if isinstance(parsed, dict) else data.decode(errors="replace")
            raise HttpError(f"{method} {path}: {status}: {message}", status)
        return parsed

    async def close(self) -> None:
        """Close the connection (a later request opens a new one)."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)
