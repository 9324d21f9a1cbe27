"""Fixtures of the metrics tests: a fake NVML library built with gcc, HTTP servers on loopback."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner_tui.metrics import nvml
from tests.metrics.http_fixtures import MetricsServer

FAKE_NVML_SOURCE = Path(__file__).with_name("fake_nvml.c")


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
    for name in ("FAKE_NVML_GPU_COUNT", "FAKE_NVML_INIT_ERROR", "FAKE_NVML_UNSUPPORTED", "FAKE_NVML_PROCESSES"):
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
