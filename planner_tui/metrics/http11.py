"""A minimal keep-alive HTTP/1.1 GET client for plain-``http`` scrape targets.

Scraping dozens of endpoints every second is dominated by per-request overhead in general-purpose
clients (httpx costs ~1 ms CPU per request here; asyncio streams ~50 µs). This client keeps one idle
connection per target and runs each GET on a low-level protocol (:class:`asyncio.BufferedProtocol`):
the request is one ``transport.write``; the response is parsed as its bytes arrive and resolves one
future. Content-Length, chunked (with trailers) and close-delimited bodies; nothing else (no TLS,
redirects, compression or credentials: such URLs are refused with :class:`UnsupportedUrl` and go
through the reference path, :class:`~planner_tui.metrics.fetch.HttpxFetcher`). The Host header is the
URL's host and port only, never its userinfo.

Errors: :class:`UnsupportedUrl`, :class:`HttpProtocolError` (a response that is not valid HTTP or is
over the limits; :class:`BodyTooLarge` for a body over the pool's ``max_body``, refused from its
Content-Length before any of it is read, or as soon as a chunked or close-delimited body passes it),
:class:`IncompleteResponse` (an :class:`asyncio.IncompleteReadError`: the server
closed the connection mid-response) and OSError (cannot connect, reset). A failed, half-read or
cancelled exchange closes its connection; only a complete keep-alive response returns it to the pool.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

_MAX_HEAD = 64 * 1024
DEFAULT_MAX_BODY = 4 * 1024 * 1024
_MAX_CHUNK_LINE = 4096
#: what one read may take from the socket: each connection's own receive buffer (64 connections: 4 MiB)
_READ_SIZE = 64 * 1024
_HEX = b"0123456789abcdefABCDEF"
_PRINTABLE = re.compile(r"[!-~]+")  # visible ASCII: what a request line and a Host header may hold

# where a connection is in reading its response
_IDLE, _HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _TRAILERS, _UNTIL_CLOSE = range(7)


class UnsupportedUrl(ValueError):
    """A URL this client does not handle (not ``http://``)."""


class HttpProtocolError(Exception):
    """A response that is not valid HTTP/1.x."""


class BodyTooLarge(HttpProtocolError):
    """A response body over the limit: ``size`` is its Content-Length, or None when it has none
    (chunked, or ending at close) and ``received`` bytes of it were read before giving up."""

    def __init__(self, limit: int, size: int | None, received: int) -> None:
        self.limit = limit
        self.size = size
        self.received = received
        if size is not None:
            text = f"response body of {size} bytes is over the limit of {limit} bytes"
        else:
            text = f"response body over the limit of {limit} bytes ({received} bytes read, no Content-Length)"
        super().__init__(text)

    def __reduce__(self) -> tuple[type, tuple[int, int | None, int]]:
        return type(self), (self.limit, self.size, self.received)


class IncompleteResponse(asyncio.IncompleteReadError):
    """The server closed the connection before the whole response arrived."""

    def __init__(self, partial: bytes, expected: int | None, what: str) -> None:
        super().__init__(partial, expected)
        self.what = what
        self.args = (what,)

    def __reduce__(self) -> tuple[type, tuple[bytes, int | None, str]]:
        return type(self), (self.partial, self.expected, self.what)


class _Connection(asyncio.BufferedProtocol):
    """One connection to a target, reading one response at a time as its bytes arrive.

    A buffered protocol: the transport receives into this connection's own ``scratch`` buffer
    (allocated once, with the connection) instead of a fresh ``bytes`` per read, which would cost
    more than everything else here together. Not shared between connections: nothing then depends on
    the event loop consuming each read before it starts the next one.
    """

    def __init__(self) -> None:
        self._scratch = memoryview(bytearray(_READ_SIZE))
        self._loop = asyncio.get_running_loop()  # made by loop.create_connection
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.keep = False  # the last response left the connection reusable
        self.received = 0  # bytes of the current response received so far
        self._waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self._buffer = bytearray()
        self._phase = _IDLE
        self._scan = 0  # where to resume looking for the end of the head
        self._status = 0
        self._keep_alive = False  # what the response's head allows
        self._need = 0  # bytes of body (Content-Length) or of the current chunk still wanted
        self._chunks: list[bytes] = []
        self._total = 0
        self._max_body = DEFAULT_MAX_BODY  # the body limit of the exchange in progress
        self._timer: asyncio.TimerHandle | None = None  # the deadline of the exchange in progress

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._scratch

    def buffer_updated(self, nbytes: int) -> None:
        if self._waiter is None:  # a server talking out of turn: the connection cannot be trusted
            self.abort()
            return
        self.received += nbytes
        self._buffer += self._scratch[:nbytes]
        try:
            self._parse()
        except HttpProtocolError as exc:
            self._fail(exc)

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost tells the waiter

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.keep = False
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if exc is not None:
            self._fail(exc)
        elif self._phase == _UNTIL_CLOSE:
            self._finish(bytes(self._buffer))
        else:
            self._fail(self._truncated())

    # the exchange

    def send(
        self, request: bytes, deadline: float | None = None, max_body: int = DEFAULT_MAX_BODY
    ) -> asyncio.Future[tuple[int, bytes]]:
        """Write ``request``; the future resolves to ``(status, body)`` once the whole response is in,
        or fails with TimeoutError at ``deadline`` (loop time), which closes the connection, or with
        :class:`BodyTooLarge` once the body is known to be over ``max_body`` bytes."""
        assert self.transport is not None
        self._max_body = max_body
        waiter: asyncio.Future[tuple[int, bytes]] = self._loop.create_future()
        self._waiter = waiter
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._expire)
        self._buffer.clear()
        self._phase = _HEAD
        self._scan = 0
        self.keep = False
        self.received = 0
        self.transport.write(request)
        return waiter

    def reusable(self) -> bool:
        """Whether this idle connection is still open (the server may have closed it meanwhile)."""
        return not self.closed and self.transport is not None and not self.transport.is_closing()

    def abort(self) -> None:
        """Drop the connection now (a half-read or abandoned exchange is never reused)."""
        self._stop_timer()
        self.closed = True
        self.keep = False
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self.closed = True
        self.keep = False
        if self.transport is not None:
            self.transport.close()

    def _expire(self) -> None:
        self._timer = None
        self._fail(TimeoutError("no complete response in time"))

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _end_exchange(self) -> asyncio.Future[tuple[int, bytes]] | None:
        """The waiter of the exchange in progress, if still waiting; the connection is idle after."""
        self._stop_timer()
        waiter = self._waiter
        self._waiter = None
        self._phase = _IDLE
        self._chunks = []
        return None if waiter is None or waiter.done() else waiter

    def _finish(self, body: bytes) -> None:
        waiter = self._end_exchange()
        # bytes beyond the response would be read as the next one: such a connection is not reused
        self.keep = self._keep_alive and not self.closed and not self._buffer
        if waiter is not None:
            waiter.set_result((self._status, body))

    def _fail(self, exc: BaseException) -> None:
        waiter = self._end_exchange()
        self.abort()
        if waiter is not None:
            waiter.set_exception(exc)

    def _truncated(self) -> IncompleteResponse:
        partial = bytes(self._buffer)
        if self._phase == _HEAD:
            if self.received == 0:
                return IncompleteResponse(b"", None, "connection closed by the server before any response")
            return IncompleteResponse(partial, None, "connection closed by the server in the response headers")
        if self._phase == _LENGTH:
            got = len(self._buffer)
            return IncompleteResponse(
                partial, self._need, f"connection closed by the server after {got} of {self._need} body bytes"
            )
        return IncompleteResponse(partial, None, "connection closed by the server in the middle of a chunked body")

    # parsing

    def _parse(self) -> None:
        buffer = self._buffer
        while True:
            phase = self._phase
            if phase == _HEAD:
                end = buffer.find(b"\r\n\r\n", self._scan)
                if end < 0:
                    if len(buffer) > _MAX_HEAD:
                        raise HttpProtocolError(f"response headers larger than {_MAX_HEAD} bytes")
                    self._scan = max(0, len(buffer) - 3)
                    return
                if end + 4 > _MAX_HEAD:
                    raise HttpProtocolError(f"response headers larger than {_MAX_HEAD} bytes")
                head = bytes(buffer[:end])
                del buffer[: end + 4]
                self._scan = 0
                self._head(head)
            elif phase == _LENGTH:
                need = self._need
                if len(buffer) < need:
                    return
                if len(buffer) == need:
                    body = bytes(buffer)
                    buffer.clear()
                else:
                    body = bytes(buffer[:need])
                    del buffer[:need]
                self._finish(body)
                return
            elif phase == _CHUNK_SIZE:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) > _MAX_CHUNK_LINE:
                        raise HttpProtocolError(f"bad chunk size line {bytes(buffer[:40])!r}...")
                    return
                line = bytes(buffer[:end])
                del buffer[: end + 2]
                digits = line.split(b";", 1)[0].strip()
                if not digits or digits.strip(_HEX) or len(digits) > 16:
                    raise HttpProtocolError(f"bad chunk size {line[:40]!r}")
                size = int(digits, 16)
                if size == 0:
                    self._phase = _TRAILERS
                    self._scan = 0
                    continue
                self._total += size
                if self._total > self._max_body:
                    raise BodyTooLarge(self._max_body, None, self._total - size)
                self._need = size
                self._phase = _CHUNK_DATA
            elif phase == _CHUNK_DATA:
                need = self._need
                if len(buffer) < need + 2:
                    return
                if buffer[need : need + 2] != b"\r\n":
                    raise HttpProtocolError(f"chunk of {need} bytes not followed by CRLF")
                self._chunks.append(bytes(buffer[:need]))
                del buffer[: need + 2]
                self._phase = _CHUNK_SIZE
            elif phase == _TRAILERS:
                end = buffer.find(b"\r\n")
                if end < 0:
                    if len(buffer) + self._scan > _MAX_HEAD:
                        raise HttpProtocolError(f"response trailers larger than {_MAX_HEAD} bytes")
                    return
                del buffer[: end + 2]
                self._scan += end + 2
                if end == 0:  # the empty line that ends the trailers
                    self._scan = 0
                    self._finish(b"".join(self._chunks))
                    return
            elif phase == _UNTIL_CLOSE:
                if len(buffer) > self._max_body:
                    raise BodyTooLarge(self._max_body, None, len(buffer))
                return
            else:
                return

    def _head(self, head: bytes) -> None:
        end = head.find(b"\r\n")
        first = head if end < 0 else head[:end]
        version, _, rest = first.partition(b" ")
        code = rest[:3]
        if not version.startswith(b"HTTP/1.") or len(code) != 3 or not code.isdigit() or rest[3:4] not in (b"", b" "):
            raise HttpProtocolError(f"not an HTTP/1.x response: {first[:80].decode('latin-1')!r}")
        status = int(code)
        fields = head.lower()
        length = _field(fields, b"\r\ncontent-length:")
        transfer = _field(fields, b"\r\ntransfer-encoding:")
        connection = _field(fields, b"\r\nconnection:")
        if 100 <= status < 200 and status != 101:
            return  # an interim response (100 Continue, 103 Early Hints): the final one follows
        self._status = status
        # HTTP/1.0 connections are not kept, nor those the server says it closes
        self._keep_alive = version == b"HTTP/1.1" and (connection is None or b"close" not in connection)
        if status in (101, 204, 304):
            if status == 101:  # switching protocols: what follows is not HTTP
                self._keep_alive = False
            self._finish(b"")
        elif transfer is not None and b"chunked" in transfer:
            self._phase = _CHUNK_SIZE
            self._total = 0
        elif length is not None:
            if b"," in length and len({part.strip() for part in length.split(b",")}) == 1:
                length = length.split(b",", 1)[0].strip()  # the same length repeated
            if not length.isdigit():
                raise HttpProtocolError(f"bad Content-Length {length[:40].decode('latin-1')!r}")
            size = int(length)
            if size > self._max_body:
                raise BodyTooLarge(self._max_body, size, 0)
            self._need = size
            self._phase = _LENGTH
        else:
            self._keep_alive = False  # the body ends when the server closes the connection
            self._phase = _UNTIL_CLOSE


def _field(fields: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (``b"\\r\\nname:"``, lower case) in the lower-cased head, or None.

    A header sent more than once gives its values joined by ``", "`` (one list, as HTTP defines it).
    """
    start = fields.find(name)
    if start < 0:
        return None
    values = []
    while start >= 0:
        start += len(name)
        end = fields.find(b"\r\n", start)
        if end < 0:
            end = len(fields)
        values.append(fields[start:end].strip())
        start = fields.find(name, end)
    return values[0] if len(values) == 1 else b", ".join(values)


class Http11Pool:
    """Idle keep-alive connections per (host, port); ``get(url)`` answers ``(status, body)``.

    ``max_body`` bounds every response body (what one scrape may hold in memory).
    """

    def __init__(self, max_body: int = DEFAULT_MAX_BODY) -> None:
        if max_body < 1:
            raise ValueError(f"max_body must be >= 1 byte, got {max_body}")
        self.max_body = max_body
        self._idle: dict[tuple[str, int], list[_Connection]] = {}
        self._requests: dict[str, tuple[tuple[str, int], bytes]] = {}  # url -> (host, port), request (same every tick)
        self._closed = False

    def _request(self, url: str) -> tuple[tuple[str, int], bytes]:
        try:
            parts = urlsplit(url)
            port = parts.port or 80
        except ValueError:
            raise UnsupportedUrl(f"not a valid http URL: {url!r}") from None
        if parts.scheme != "http" or not parts.hostname:
            raise UnsupportedUrl(f"not a plain http URL: {url!r}")
        if "@" in parts.netloc:
            # credentials: the reference path sends them as Basic auth; they never go in the Host header
            raise UnsupportedUrl("a URL with credentials (user:password@)")
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        if parts.port is not None:
            host += f":{parts.port}"
        if not _PRINTABLE.fullmatch(target) or not _PRINTABLE.fullmatch(host):
            raise UnsupportedUrl(f"a URL with characters a request line cannot carry: {url!r}")
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nAccept: text/plain\r\nUser-Agent: planner-tui\r\n\r\n"
        ).encode()
        cached = self._requests[url] = ((parts.hostname, port), request)
        return cached

    async def get(self, url: str, timeout: float | None = None) -> tuple[int, bytes]:
        """GET ``url`` within ``timeout`` seconds (connecting, sending and the whole response).

        Raises :class:`UnsupportedUrl`, OSError, :class:`HttpProtocolError` (:class:`BodyTooLarge`
        for a body over :attr:`max_body`), TimeoutError, or
        :class:`IncompleteResponse` (an :class:`asyncio.IncompleteReadError`) when the server closes
        the connection mid-response. A timeout, or cancelling it, closes the connection. The timeout
        is a timer on the exchange, cheaper than an ``asyncio.timeout`` block around each request.
        """
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        cached = self._requests.get(url)
        key, request = cached if cached is not None else self._request(url)
        connection: _Connection | None = None
        idle = self._idle.get(key)
        while idle:
            candidate = idle.pop()
            if candidate.reusable():
                connection = candidate
                break
        reused = connection is not None
        while True:
            if connection is None:
                loop = asyncio.get_running_loop()
                async with asyncio.timeout_at(deadline):
                    _, connection = await loop.create_connection(_Connection, key[0], key[1])
            try:
                result = await connection.send(request, deadline, self.max_body)
            except (ConnectionError, IncompleteResponse):
                connection.abort()
                if reused and not connection.received:
                    # the server closed the idle connection before answering: retry once on a new one
                    reused = False
                    connection = None
                    continue
                raise
            except BaseException:
                connection.abort()  # a failed, half-read or cancelled exchange never returns its connection
                raise
            if connection.keep and not self._closed:
                self._idle.setdefault(key, []).append(connection)
            else:
                connection.close()
            return result

    def retain(self, urls: Iterable[str]) -> None:
        """Close idle connections to every target but those of ``urls`` (replicas that went away)."""
        keep = set()
        requests: dict[str, tuple[tuple[str, int], bytes]] = {}
        for url in urls:
            cached = self._requests.get(url)
            if cached is not None:
                requests[url] = cached
                keep.add(cached[0])
                continue
            try:
                parts = urlsplit(url)
                if parts.hostname:
                    keep.add((parts.hostname, parts.port or 80))
            except ValueError:
                continue  # not a URL this pool takes: it holds no connection for it
        self._requests = requests
        for key in [k for k in self._idle if k not in keep]:
            for connection in self._idle.pop(key):
                connection.close()

    async def close(self) -> None:
        """Close every idle connection."""
        self._closed = True
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()
