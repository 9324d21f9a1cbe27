"""Shared fixtures: every test gets its own state and config directories."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point planner-tui's state and config directories at a per-test temporary folder; at the end,
    kill any process still running with that state directory (a circusd or replica a test left behind,
    whatever the test's own cleanup missed) and warn, naming it."""
    state = str(tmp_path / "state")
    monkeypatch.setenv("PLANNER_TUI_STATE_DIR", state)
    monkeypatch.setenv("PLANNER_TUI_CONFIG_DIR", str(tmp_path / "config"))
    yield tmp_path
    left = _processes_with_state_dir(state)
    for proc in left:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    if left:
        names = "; ".join(f"pid {p.pid}: {' '.join(_cmdline(p))[:160]}" for p in left)
        warnings.warn(f"the test left {len(left)} process(es) running, killed now: {names}", stacklevel=1)


def _cmdline(proc: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return proc.cmdline()
    return []


def _processes_with_state_dir(state: str) -> list[psutil.Process]:
    """planner-tui processes (circusd, replicas, sims, services) other than this one whose environment
    names ``state`` as their state directory. Servers of session fixtures (an API server, Prometheus)
    are started before a test's environment is set and are not planner-tui's: never matched."""
    found = []
    for proc in psutil.process_iter():
        if proc.pid == os.getpid():
            continue
        with contextlib.suppress(psutil.Error):
            if proc.environ().get("PLANNER_TUI_STATE_DIR") != state:
                continue
            if _is_planner_tui(proc.cmdline()):
                found.append(proc)
    return found


def _is_planner_tui(argv: list[str]) -> bool:
    """True for planner-tui's own processes: ``python -m planner_tui...`` (circusd, replicas, sims, services)
    or the ``planner-tui`` command; not a server that merely lives under a ``planner-tui`` cache folder
    (the test API server, which a test may restart with its environment)."""
    for arg in argv[:4]:
        if arg == "planner_tui" or arg.startswith("planner_tui.") or os.path.basename(arg) == "planner-tui":
            return True
    return False


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (CI=true) a skipped test is a failure: every component must be installed there."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which must install everything: {report.longrepr}"


@pytest.fixture
def replica_process() -> Iterator[subprocess.Popen[bytes]]:
    """A real process standing for a replica of a local graph (it waits on its stdin until the test ends)."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    yield process
    assert process.stdin is not None
    process.stdin.close()
    process.wait(30)
