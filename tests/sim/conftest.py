"""Real sim processes for the process tests: free loopback ports, logs in tmp_path, always killed."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

SPEEDUP = 5.0  # simulated seconds per real second in the process tests
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except (httpx.HTTPError, KeyError) as exc:
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last error: {last_error!r})")


@dataclass
class SimProcess:
    """One running sim process."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def health(self) -> int:
        return httpx.get(self.url + "/health", timeout=5).status_code

    def metrics(self) -> dict[str, list[Any]]:
        """Samples by sample name, parsed with prometheus_client's parser."""
        text = httpx.get(self.url + "/metrics", timeout=5).text
        samples: dict[str, list[Any]] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append(sample)
        return samples

    def value(self, name: str, **labels: str) -> float:
        return sum(s.value for s in self.metrics()[name] if all(s.labels.get(k) == v for k, v in labels.items()))


class SimGraph:
    """Starts sim processes with ``sys.executable -m planner_tui sim ...`` and cleans them up."""

    def __init__(self, tmp_path: Path, speedup: float = SPEEDUP) -> None:
        self.tmp_path = tmp_path
        self.speedup = speedup
        self.processes: list[SimProcess] = []
        self.frontend: SimProcess | None = None

    def _start(self, name: str, args: list[str], env: dict[str, str] | None = None, umask: int = -1) -> SimProcess:
        port = free_port()
        log = self.tmp_path / f"{name}.log"
        full_env = {**os.environ, "PLANNER_TUI_SIM_SPEEDUP": str(self.speedup), **(env or {})}
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "planner_tui", "sim", *args, "--port", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=full_env,
                umask=umask,
            )
        process = SimProcess(name, popen, port, log)
        self.processes.append(process)
        return process

    def start_frontend(self, *args: str, umask: int = -1) -> SimProcess:
        """A frontend (lease 3 s unless ``args`` say otherwise), ready; ``umask``: the process's umask."""
        self.frontend = self._start("frontend", ["frontend", "--seed", "1", "--lease", "3", *args], umask=umask)
        wait_for(lambda: self.frontend and self.frontend.health() == 200, 30, "the frontend to answer /health")
        return self.frontend

    def start_worker(
        self, role: str, *args: str, gpus: str = "0", ready: bool = True, worker_id: str | None = None
    ) -> SimProcess:
        """A worker named ROLE-N (N counts this role's workers), reporting as ``worker_id`` (default: its name)."""
        assert self.frontend is not None
        name = f"{role}-{sum(1 for p in self.processes if p.name.startswith(role))}"
        process = self._start(
            name,
            [
                "worker",
                "--role",
                role,
                "--frontend",
                self.frontend.url,
                "--worker-id",
                worker_id or name,
                "--cold-start",
                "1",
                "--seed",
                str(len(self.processes)),
                *args,
            ],
            env={"CUDA_VISIBLE_DEVICES": gpus},
        )
        if ready:
            wait_for(lambda: process.health() == 200, 30, f"{name} to become ready")
        return process

    def stats(self) -> dict[str, Any]:
        assert self.frontend is not None
        return dict(httpx.get(self.frontend.url + "/sim/stats", timeout=5).json())

    def held_by(self, name: str) -> int:
        """Requests the frontend sees held by the worker process(es) named ``name``."""
        workers = self.stats()["workers"]
        return sum(int(w["held"]) for key, w in workers.items() if w.get("name", key) == name)

    def worker_names(self) -> list[str]:
        """The names of the workers the frontend knows (a name repeats for each process that used it)."""
        return [str(w["name"]) for w in self.stats()["workers"].values()]

    def token_file(self) -> Path:
        """Where the frontend writes its control token (the default path in the test's state directory)."""
        assert self.frontend is not None
        return self.tmp_path / "state" / "sim" / f"port-{self.frontend.port}" / "control.token"

    def control_headers(self) -> dict[str, str]:
        """The frontend's control token as a header (read from its token file), none when it has none."""
        path = self.token_file()
        return {"Authorization": f"Bearer {path.read_text().strip()}"} if path.exists() else {}

    def set_rps(self, rps: float) -> None:
        """Switch the frontend to a constant rate, with its control token."""
        assert self.frontend is not None
        body = {"kind": "constant", "rps": rps}
        url = self.frontend.url + "/control/profile"
        httpx.post(url, json=body, headers=self.control_headers(), timeout=5).raise_for_status()

    def stop(self, process: SimProcess, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        process.popen.send_signal(sig)
        return process.popen.wait(timeout)

    def close(self) -> None:
        for process in reversed(self.processes):
            if process.popen.poll() is None:
                process.popen.terminate()
        for process in self.processes:
            try:
                process.popen.wait(10)
            except subprocess.TimeoutExpired:
                print(f"{process.name} ignored SIGTERM for 10 s; killing it")
                process.popen.send_signal(signal.SIGUSR1)
                time.sleep(1)
                print(process.log.read_text()[-6000:])
                process.popen.kill()
                process.popen.wait(5)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.log.read_text(errors='replace')[-3000:]}" for p in self.processes)


@pytest.fixture
def sim(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[SimGraph]:
    graph = SimGraph(tmp_path)
    try:
        yield graph
    finally:
        graph.close()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            print(graph.logs())  # the processes' logs, shown with the failure


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]
