"""A real HTTP server on 127.0.0.1 serving Prometheus text, for scrape tests (runs in a thread)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What one path answers: a status and a body, optionally held until ``release`` is set."""

    body: str = ""
    status: int = 200
    hold: bool = False
    delay_s: float = 0.0


@dataclass
class ServerState:
    routes: dict[str, Route] = field(default_factory=dict)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    max_in_flight: int = 0
    requests: int = 0


class MetricsServer:
    """``ThreadingHTTPServer`` on a free loopback port; ``url(path)`` gives a route's URL."""

    def __init__(self) -> None:
        self.state = ServerState()
        state = self.state

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with state.lock:
                    state.in_flight += 1
                    state.requests += 1
                    state.max_in_flight = max(state.max_in_flight, state.in_flight)
                counted = True

                def answered() -> None:  # before the client can have the answer (and ask again)
                    nonlocal counted
                    if counted:
                        counted = False
                        with state.lock:
                            state.in_flight -= 1

                try:
                    route = state.routes.get(self.path.split("?")[0])
                    if route is None:
                        self.send_error(404)
                        return
                    if route.hold:
                        state.release.wait(30)
                    if route.delay_s:
                        state.release.wait(route.delay_s)
                    data = route.body.encode()
                    self.send_response(route.status)
                    self.send_header("Content-Type", "text/plain; version=0.0.4")
                    self.send_header("Content-Length", str(len(data)))
                    answered()
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass
                finally:
                    answered()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: str = "", status: int = 200, hold: bool = False, delay_s: float = 0.0) -> str:
        self.state.routes[path] = Route(body, status, hold, delay_s)
        return self.url(path)

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.state.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)
