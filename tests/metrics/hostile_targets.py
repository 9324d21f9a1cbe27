"""A real HTTP server on 127.0.0.1 whose paths misbehave the ways a scrape target can (runs in threads).

Paths: ``/ok`` (a worker exposition, set with :meth:`HostileServer.set_text`), ``/huge`` (a
Content-Length body of ``huge_bytes``, streamed from one small block so the test process never holds
it), ``/forever`` (a chunked body that never ends), ``/drip`` (headers, then one byte every 50 ms),
``/hang`` (accepts, never answers), ``/garbage`` (random bytes), ``/html`` (a text that is not an
exposition), ``/line`` (one huge line), ``/text`` (any text set with :meth:`HostileServer.set_text`).
Every handler loop waits on the server's stop event, so :meth:`HostileServer.stop` is bounded.
"""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from collections.abc import Iterator

#: one plain sample line; ``/huge`` and ``/forever`` send whole ones (but for a size not a multiple of it)
LINE = b'filler_metric{replica="r",series="0123456789"} 1.5\n'
_BLOCK = LINE * 1300  # ~64 KiB of plain samples


class HostileServer:
    """``ThreadingTCPServer`` on a free loopback port; ``url(path)`` gives a path's URL."""

    def __init__(self, huge_bytes: int = 60 * 1024 * 1024) -> None:
        self.huge_bytes = huge_bytes
        self.stopping = threading.Event()
        self.texts: dict[str, bytes] = {}
        self.requests: dict[str, int] = {}
        self.sent: dict[str, int] = {}  # body bytes written per path (what the client took before closing)
        self._lock = threading.Lock()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                sock: socket.socket = self.request
                sock.settimeout(5)
                try:
                    head = b""
                    while b"\r\n\r\n" not in head and len(head) < 65536:
                        data = sock.recv(4096)
                        if not data:
                            return
                        head += data
                    path = head.split(b" ", 2)[1].decode("latin-1").split("?")[0]
                    with server._lock:
                        server.requests[path] = server.requests.get(path, 0) + 1
                    server._answer(sock, path)
                except OSError:
                    pass  # the client gave up on us: that is the point of most paths

        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
        self.tcp.daemon_threads = True
        self.tcp.allow_reuse_address = True
        self.tcp.server_bind()
        self.tcp.server_activate()
        self.port = self.tcp.server_address[1]
        self.thread = threading.Thread(target=self.tcp.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def set_text(self, path: str, text: str) -> str:
        """Serve ``text`` (Content-Length, Connection: close) at ``path``; returns its URL."""
        self.texts[path] = text.encode()
        return self.url(path)

    def start(self) -> HostileServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.tcp.shutdown()
        self.tcp.server_close()
        self.thread.join(10)

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self.sent[path] = self.sent.get(path, 0) + n

    def _answer(self, sock: socket.socket, path: str) -> None:
        if path in self.texts:
            self._body(sock, path, self.texts[path])
        elif path == "/huge":
            sock.sendall(_head(f"Content-Length: {self.huge_bytes}"))
            for block in _blocks(self.huge_bytes):
                if self.stopping.is_set():
                    return
                sock.sendall(block)
                self._count(path, len(block))
        elif path == "/forever":
            sock.sendall(_head("Transfer-Encoding: chunked"))
            chunk = f"{len(_BLOCK):x}\r\n".encode() + _BLOCK + b"\r\n"
            while not self.stopping.is_set():
                sock.sendall(chunk)
                self._count(path, len(_BLOCK))
        elif path == "/drip":
            sock.sendall(_head("Content-Length: 100000"))
            while not self.stopping.wait(0.05):
                sock.sendall(b"#")
                self._count(path, 1)
        elif path == "/hang":
            self.stopping.wait(30)
        elif path == "/garbage":
            self._body(sock, path, os.urandom(1024 * 1024))
        elif path == "/html":
            self._body(sock, path, b"<html><body>\n" + b"<p>not metrics</p>\n" * 20000 + b"</body></html>\n")
        elif path == "/line":
            self._body(sock, path, b"x" * (3 * 1024 * 1024))
        else:
            self._body(sock, path, b"not found\n", "404 Not Found")

    def _body(self, sock: socket.socket, path: str, body: bytes, status: str = "200 OK") -> None:
        sock.sendall(_head(f"Content-Length: {len(body)}", status) + body)
        self._count(path, len(body))


def _head(field: str, status: str = "200 OK") -> bytes:
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n{field}\r\nConnection: close\r\n\r\n".encode()
    )


def _blocks(total: int) -> Iterator[memoryview]:
    view = memoryview(_BLOCK)
    left = total
    while left > 0:
        block = view[: min(left, len(_BLOCK))]
        left -= len(block)
        yield block
