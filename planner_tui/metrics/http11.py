"""A minimal keep-alive HTTP/1.1 GET client for plain-``http`` scrape targets.

Scraping dozens of endpoints every second is dominated by per-request overhead in general-purpose
clients (httpx costs ~1 ms CPU per request here, and its pool rescans every connection for each
request). This client keeps one idle connection per target and does a single GET over asyncio
streams: Content-Length, chunked and close-delimited bodies; nothing else (no TLS, redirects or
compression: ``https`` URLs go through httpx instead).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024
_MAX_BODY = 64 * 1024 * 1024


class UnsupportedUrl(ValueError):
    """A URL this client does not handle (not ``http://``)."""


class HttpProtocolError(Exception):
    """A response that is not valid HTTP/1.x."""


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def _close(connection: Connection) -> None:
    with contextlib.suppress(Exception):
        connection[1].close()


class Http11Pool:
    """Idle keep-alive connections per (host, port); ``get(url)`` answers ``(status, body)``."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[Connection]] = {}
        self._requests: dict[str, tuple[str, int, bytes]] = {}  # url -> host, port, request (the same every tick)
        self._closed = False

    def _request(self, url: str) -> tuple[str, int, bytes]:
        cached = self._requests.get(url)
        if cached is not None:
            return cached
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise UnsupportedUrl(f"not a plain http URL: {url}")
        host, port = parts.hostname, parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: text/plain\r\nUser-Agent: planner-tui\r\n\r\n"
        ).encode()
        self._requests[url] = (host, port, request)
        return host, port, request

    async def get(self, url: str) -> tuple[int, bytes]:
        """GET ``url``. Raises :class:`UnsupportedUrl`, OSError, :class:`HttpProtocolError`."""
        host, port, request = self._request(url)
        idle = self._idle.get((host, port))
        if idle:
            connection = idle.pop()
            try:
                return await self._exchange(connection, request, host, port)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass  # the server closed the idle connection: retry once on a new one
        connection = await asyncio.open_connection(host, port, limit=_MAX_HEAD)
        return await self._exchange(connection, request, host, port)

    async def _exchange(self, connection: Connection, request: bytes, host: str, port: int) -> tuple[int, bytes]:
        reader, writer = connection
        keep = False
        try:
            writer.write(request)
            await writer.drain()
            status, headers, version = await _read_head(reader)
            bodiless = status in (204, 304) or 100 <= status < 200
            body = b"" if bodiless else await _read_body(reader, headers)
            delimited = "content-length" in headers or "chunked" in headers.get("transfer-encoding", "").lower()
            keep = (
                version == "HTTP/1.1" and headers.get("connection", "").lower() != "close" and (bodiless or delimited)
            )
            return status, body
        finally:
            # also reached on cancellation (a timeout): a half-read connection is never reused
            if keep and not self._closed:
                self._idle.setdefault((host, port), []).append(connection)
            else:
                _close(connection)

    def retain(self, urls: Iterable[str]) -> None:
        """Close idle connections to every target but those of ``urls`` (replicas that went away)."""
        keep = set()
        requests: dict[str, tuple[str, int, bytes]] = {}
        for url in urls:
            cached = self._requests.get(url)
            if cached is not None:
                requests[url] = cached
                keep.add(cached[:2])
                continue
            parts = urlsplit(url)
            if parts.hostname:
                keep.add((parts.hostname, parts.port or 80))
        self._requests = requests
        for key in [k for k in self._idle if k not in keep]:
            for connection in self._idle.pop(key):
                _close(connection)

    async def close(self) -> None:
        """Close every idle connection."""
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                _close(connection)
        self._idle.clear()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], str]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError:
        raise HttpProtocolError("response headers too large") from None
    lines = head.decode("latin-1").split("\r\n")
    status_line = lines[0].split(" ", 2)
    if len(status_line) < 2 or not status_line[0].startswith("HTTP/1.") or not status_line[1].isdigit():
        raise HttpProtocolError(f"not an HTTP/1.x response: {lines[0][:80]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(status_line[1]), headers, status_line[0]


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise HttpProtocolError(f"bad chunk size {size_line[:40]!r}") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY:
                raise HttpProtocolError("response body too large")
            chunks.append((await reader.readexactly(size + 2))[:-2])
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit() or int(length) > _MAX_BODY:
            raise HttpProtocolError(f"bad Content-Length {length!r}")
        return await reader.readexactly(int(length))
    return await reader.read(_MAX_BODY)  # delimited by the server closing the connection
