"""circusd as its own process: start it on owner-only Unix sockets, tell whether it lives, stop it.

circus's in-process arbiter is broken on Python 3.11, so circusd always runs as a separate process,
in its own session so that a Ctrl-C in the dashboard does not reach it and a graph can outlive the
planner-tui that started it.

circusd's control channel runs any command as its owner and hands out replicas' environments, and
it has no authentication: its control and pub/sub endpoints are Unix domain sockets in a 0700
directory of the user's (:func:`planner_tui.config.paths.socket_dir`), never TCP ports; its
multicast discovery (UDP 0.0.0.0:12027 by default) is turned off, and it runs with umask 077 so
every file it creates (replica logs included) is the owner's alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from planner_tui.config.paths import open_private, private_dir, socket_dir
from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.local.processes import is_running as process_alive

#: seconds between circus's periodic process checks (reaping, stopping a watcher whose process is
#: gone). A child's exit runs the check at once (SIGCHLD, see ``circusd_main``), so this is only a
#: backstop: at 0.25 s the check was half of an idle circusd's CPU (8 replicas: 0.4% of a core).
CHECK_DELAY_S = 2.0
#: the module circusd runs as (``python -m``): circus's circusd without the periodic check's
#: ConflictError tracebacks (see :mod:`planner_tui.connectors.local.circusd_main`)
CIRCUSD_MODULE = "planner_tui.connectors.local.circusd_main"


@dataclass(frozen=True, slots=True)
class CircusdHandle:
    """A running circusd: its pid (with create time, so a reused pid is not mistaken) and endpoints."""

    pid: int
    create_time: float
    endpoint: str
    pubsub_endpoint: str

    def to_json(self) -> dict[str, Any]:
        """The state-file form."""
        return {
            "pid": self.pid,
            "create_time": self.create_time,
            "endpoint": self.endpoint,
            "pubsub_endpoint": self.pubsub_endpoint,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CircusdHandle:
        """Read the state-file form."""
        return cls(
            pid=int(data["pid"]),
            create_time=float(data["create_time"]),
            endpoint=str(data["endpoint"]),
            pubsub_endpoint=str(data["pubsub_endpoint"]),
        )


def circusd_endpoints(sockets: Path, generation: str) -> tuple[str, str]:
    """``(control, pubsub)`` IPC endpoints in the private directory ``sockets``."""
    return f"ipc://{sockets / f'ctl-{generation}.sock'}", f"ipc://{sockets / f'pub-{generation}.sock'}"


def _write_config(run_dir: Path, endpoint: str, pubsub: str, log_path: Path) -> Path:
    # No stats_endpoint: setting it silently turns statsd on and spawns a circusd-stats process.
    # An empty multicast_endpoint turns off circus's cluster discovery, which would otherwise
    # listen on UDP 0.0.0.0:12027 and answer anyone with the control endpoint.
    text = (
        "[circus]\n"
        f"endpoint = {endpoint}\n"
        f"pubsub_endpoint = {pubsub}\n"
        "multicast_endpoint =\n"
        "umask = 077\n"
        "httpd = False\n"
        f"check_delay = {CHECK_DELAY_S}\n"
        "statsd = False\n"
        "warmup_delay = 0\n"
        "loglevel = info\n"
        f"logoutput = {log_path}\n"
    )
    ini = run_dir / "circus.ini"
    tmp = run_dir / ".circus.ini.tmp"
    tmp.unlink(missing_ok=True)
    with os.fdopen(open_private(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL), "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, ini)
    return ini


class Circusd:
    """Starts and stops one namespace's circusd; ``run_dir`` holds its config and log."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_path = run_dir / "circusd.log"
        self._popen: subprocess.Popen[bytes] | None = None

    def _spawn(self) -> tuple[subprocess.Popen[bytes], str, str]:
        private_dir(self.run_dir)
        # a fresh name per start: a dying circusd never removes the sockets of its successor
        sockets = socket_dir(str(self.run_dir.absolute()))
        endpoint, pubsub = circusd_endpoints(sockets, secrets.token_hex(4))
        ini = _write_config(self.run_dir, endpoint, pubsub, self.log_path)
        with os.fdopen(open_private(self.run_dir / "circusd.out"), "ab") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", CIRCUSD_MODULE, str(ini)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.run_dir,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                umask=0o077,
            )
        return popen, endpoint, pubsub

    async def start(self, timeout: float = 20.0) -> CircusdHandle:
        """Start circusd and wait until it answers; retries once with fresh ports if it dies at once."""
        # zmq is imported here, not with this module: the state file (which names circusd) is read by the
        # dashboard's first frame, before anything talks to circusd
        from planner_tui.connectors.local.circus_client import CircusClient

        last_error = ""
        for _attempt in range(3):
            popen, endpoint, pubsub = await asyncio.to_thread(self._spawn)
            self._popen = popen
            client = CircusClient(endpoint, timeout=1.0)
            deadline = time.monotonic() + timeout
            answered = False
            try:
                while time.monotonic() < deadline:
                    if popen.poll() is not None:
                        last_error = f"circusd exited with code {popen.returncode}"
                        break
                    try:
                        await client.call("list", timeout=0.5)
                    except ConnectorError:
                        await asyncio.sleep(0.02)
                        continue
                    create_time = psutil.Process(popen.pid).create_time()
                    answered = True
                    return CircusdHandle(popen.pid, create_time, endpoint, pubsub)
                else:
                    last_error = f"circusd did not answer on {endpoint} within {timeout:.0f} s"
            finally:
                if not answered and popen.poll() is None:
                    self._kill(popen)  # cancelled or timed out: never leave a circusd nobody knows about
                await client.close()
        raise ConnectorError(
            f"cannot start circusd: {last_error}; see {self.log_path} and {self.run_dir / 'circusd.out'}"
        )

    @staticmethod
    def _kill(popen: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(5)

    def reap(self) -> None:
        """Collect our circusd child's exit status, so a dead circusd is not left as a zombie."""
        if self._popen is not None:
            self._popen.poll()

    def alive(self, handle: CircusdHandle) -> bool:
        """True while ``handle``'s circusd runs."""
        self.reap()
        return process_alive(handle.pid, handle.create_time)

    async def stop(self, handle: CircusdHandle, timeout: float = 10.0) -> None:
        """Stop circusd (SIGTERM, then SIGKILL after ``timeout``) and wait until it is gone."""

        def _stop() -> None:
            if not process_alive(handle.pid, handle.create_time):
                self.reap()
                return
            with contextlib.suppress(ProcessLookupError):
                os.kill(handle.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                self.reap()
                if not process_alive(handle.pid, handle.create_time):
                    return
                time.sleep(0.02)
            with contextlib.suppress(ProcessLookupError):
                os.kill(handle.pid, signal.SIGKILL)
            while process_alive(handle.pid, handle.create_time):
                self.reap()
                time.sleep(0.02)

        await asyncio.to_thread(_stop)
        remove_socket_files(handle)


def remove_socket_files(handle: CircusdHandle) -> None:
    """Delete the Unix socket files of a circusd that is gone (a SIGKILLed one leaves them behind)."""
    for endpoint in (handle.endpoint, handle.pubsub_endpoint):
        if endpoint.startswith("ipc://"):
            with contextlib.suppress(OSError):
                os.unlink(endpoint.removeprefix("ipc://"))
