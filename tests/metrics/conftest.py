"""Fixtures of the metrics tests: a fake NVML library built with gcc, HTTP servers on loopback."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from planner_tui.metrics import nvml
from tests.metrics.http_fixtures import MetricsServer

FAKE_NVML_SOURCE = Path(__file__).with_name("fake_nvml.c")
TARGET_SCRIPT = Path(__file__).with_name("metrics_target.py")
#: the environment variables the fake library reads (see fake_nvml.c)
FAKE_NVML_VARIABLES = (
    "FAKE_NVML_GPU_COUNT",
    "FAKE_NVML_INIT_ERROR",
    "FAKE_NVML_UNSUPPORTED",
    "FAKE_NVML_UTIL",
    "FAKE_NVML_PROCESSES",
    "FAKE_NVML_NAME",
    "FAKE_NVML_MIG",
    "FAKE_NVML_THROTTLE",
    "FAKE_NVML_ECC",
)


@pytest.fixture
def layout_compiler() -> Iterator[Callable[[str], Future[re.Pattern[str]]]]:
    """A ``compile`` for a TargetParser: layouts compiled in a worker thread, ended after the test."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="test-layouts") as pool:
        yield lambda source: pool.submit(re.compile, source)


def build_fake_nvml(out_dir: Path, *defines: str) -> Path:
    """Compile ``fake_nvml.c`` to ``out_dir/libnvidia-ml.so.1`` (the name the bindings look for)."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build the fake NVML library (tests/run.sh installs it)"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "libnvidia-ml.so.1"
    subprocess.run(
        [gcc, "-shared", "-fPIC", "-O2", *(f"-D{d}" for d in defines), "-o", str(target), str(FAKE_NVML_SOURCE)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return target


@pytest.fixture(scope="session")
def fake_nvml_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The full fake library: every entry point planner-tui calls."""
    return build_fake_nvml(tmp_path_factory.mktemp("nvml-full"))


@pytest.fixture(scope="session")
def minimal_nvml_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake library without fan, power, clock and process functions (an old driver)."""
    return build_fake_nvml(tmp_path_factory.mktemp("nvml-minimal"), "FAKE_NVML_MINIMAL")


@pytest.fixture
def fake_nvml(fake_nvml_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """NVML through the real bindings over the fake library; back to the system library afterwards."""
    for name in FAKE_NVML_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv(nvml.LIBRARY_ENV, raising=False)
    nvml.use_library(fake_nvml_path)
    yield fake_nvml_path
    nvml.use_library(None)


@pytest.fixture
def metrics_server() -> Iterator[MetricsServer]:
    """A real HTTP server on 127.0.0.1 whose routes a test sets with ``serve(path, body, ...)``."""
    server = MetricsServer().start()
    yield server
    server.stop()


class TargetProcess:
    """A real process (``metrics_target.py``) serving Prometheus text on loopback ports."""

    def __init__(self, body_file: Path | None, count: int = 1, delay_s: float = 0.0) -> None:
        args = [sys.executable, str(TARGET_SCRIPT), "--count", str(count)]
        if body_file is not None:
            args += ["--body-file", str(body_file)]
        if delay_s:
            args += ["--delay", str(delay_s)]
        self.body_file = body_file
        self.process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, "the metrics target did not start"
        info = json.loads(line)
        self.pid: int = info["pid"]
        self.ports: list[int] = info["ports"]

    def url(self, index: int = 0, path: str = "/metrics") -> str:
        return f"http://127.0.0.1:{self.ports[index]}{path}"

    def write(self, text: str) -> None:
        """Replace the served text (atomically, so a scrape never sees half a file)."""
        assert self.body_file is not None
        partial = self.body_file.with_suffix(".partial")
        partial.write_text(text)
        os.replace(partial, self.body_file)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture
def start_target(tmp_path: Path) -> Iterator[Callable[..., TargetProcess]]:
    """Start metrics target processes: ``start_target(text)`` serves ``text``; all stopped afterwards."""
    started: list[TargetProcess] = []

    def start(text: str | None = None, count: int = 1, delay_s: float = 0.0) -> TargetProcess:
        body = None
        if text is not None:
            body = tmp_path / f"body-{len(started)}.prom"
            body.write_text(text)
        target = TargetProcess(body, count, delay_s)
        started.append(target)
        return target

    yield start
    for target in started:
        target.stop()
