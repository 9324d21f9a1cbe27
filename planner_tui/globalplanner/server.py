"""Running the Global Planner under uvicorn: in the foreground (the command) or on a thread (tests).

Shutdown (Ctrl-C, SIGTERM, or :meth:`ServerThread.stop`) stops taking requests, lets those in
progress finish, then closes every deployment: the local graphs this service started are stopped
(their replicas and their circusd), unless ``--keep-graphs`` leaves them running for the next
start to adopt. A service killed outright leaves its local graphs running under their circusd; the
next start adopts them through their state files.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Generator

import uvicorn

from planner_tui.globalplanner.app import create_app
from planner_tui.globalplanner.service import GlobalPlanner

log = logging.getLogger(__name__)


def uvicorn_config(service: GlobalPlanner, *, log_level: str = "warning", port: int | None = None) -> uvicorn.Config:
    """One worker, no access log (the audit log is the record), the service's host and port.

    The service is started before uvicorn listens and stopped after it stopped (see :func:`run_service`).
    """
    return uvicorn.Config(
        create_app(service, manage_lifecycle=False),
        host=service.settings.host,
        port=service.settings.port if port is None else port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=30,
    )


class _Server(uvicorn.Server):
    """uvicorn's server, except that a SIGTERM or Ctrl-C it shut down for gracefully is an exit 0
    (uvicorn raises the signal again once stopped, which would end the process with -15)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


async def run_service(service: GlobalPlanner, server: uvicorn.Server) -> None:
    """Start the service (its graphs: errors raised here, before anything listens), serve until
    asked to stop, then stop the service (bounded by its connectors' shutdowns)."""
    await service.start()
    try:
        await server.serve()
    finally:
        await service.stop()


def serve(service: GlobalPlanner, *, log_level: str = "warning") -> None:
    """Run until Ctrl-C or SIGTERM; raises what stopped the service from starting, SystemExit(1)
    when uvicorn could not listen."""
    server = _Server(uvicorn_config(service, log_level=log_level))
    asyncio.run(run_service(service, server))
    if not server.started:
        raise SystemExit(1)


class ServerThread:
    """The service on a thread of its own with its own event loop (tests, the benchmark).

    ``port=0`` picks a free port; :attr:`url` is the base URL once :meth:`start` returned.
    """

    def __init__(self, service: GlobalPlanner, port: int | None = 0) -> None:
        self.service = service
        self.server = uvicorn.Server(uvicorn_config(service, port=port))
        self._thread = threading.Thread(target=self._run, name="global-planner", daemon=True)
        self._error: BaseException | None = None
        self._ready = threading.Event()

    def _run(self) -> None:
        try:
            asyncio.run(run_service(self.service, self.server))
        except BaseException as exc:  # reported by start()
            self._error = exc
        finally:
            self._ready.set()

    def start(self, timeout: float = 60.0) -> ServerThread:
        """Start and wait until it listens (or failed: the error is raised here)."""
        self._thread.start()
        waited = 0.0
        # uvicorn says it listens only through a flag; the thread ending (a failed start) ends the wait
        while not self.server.started and not self._ready.wait(0.01):
            waited += 0.01
            if waited > timeout:
                self.stop()
                raise TimeoutError(f"the Global Planner did not start listening within {timeout:g} s")
        if not self.server.started:
            self._thread.join(5.0)
            if isinstance(self._error, Exception):
                raise self._error
            raise RuntimeError("the Global Planner did not start listening")
        return self

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        sockets = [s for server in self.server.servers for s in server.sockets]
        host, port = sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def stop(self, timeout: float = 90.0) -> None:
        """Ask it to stop and wait (bounded) for the graphs to be closed."""
        self.server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("the Global Planner thread did not stop within %.0f s", timeout)
