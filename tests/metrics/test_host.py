"""Host and per-replica figures read from real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from planner_tui.metrics import host as host_module
from planner_tui.metrics.host import HostReader


@pytest.fixture
def busy_and_idle() -> Iterator[tuple[int, int]]:
    """A process spinning a core and one sleeping, both past their start-up; both killed afterwards."""
    busy = subprocess.Popen(
        [sys.executable, "-c", "print('ready', flush=True)\nwhile True: pass"], stdout=subprocess.PIPE, text=True
    )
    idle = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n"
            "print('ready', flush=True)\ntime.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    # The interpreter's start-up costs CPU: measure only once both say they are running.
    for process in (busy, idle):
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    yield busy.pid, idle.pid
    for process in (busy, idle):
        process.kill()
        process.wait(10)


@pytest.mark.parametrize("use_proc", [True, False], ids=["proc-stat", "psutil"])
def test_replica_usage_of_real_processes(
    busy_and_idle: tuple[int, int], use_proc: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(host_module, "_PROC_STAT", use_proc and host_module._PROC_STAT)
    busy, idle = busy_and_idle
    reader = HostReader()
    first = reader.usage({"busy-0": busy, "idle-0": idle})
    assert first["busy-0"].cpu_percent is None  # one reading cannot give a rate
    deadline = time.monotonic() + 30
    while True:
        time.sleep(0.3)
        usage = reader.usage({"busy-0": busy, "idle-0": idle})
        if (usage["busy-0"].cpu_percent or 0) > 20 or time.monotonic() > deadline:
            break
    assert (usage["busy-0"].cpu_percent or 0) > 20, usage
    assert usage["idle-0"].cpu_percent is not None and usage["idle-0"].cpu_percent < 10
    reference = psutil.Process(idle)
    assert usage["idle-0"].threads == reference.num_threads() == 2
    rss = usage["idle-0"].rss_bytes or 0
    assert abs(rss - reference.memory_info().rss) < 0.2 * reference.memory_info().rss


def test_a_process_that_is_gone_is_left_out() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(30)
    reader = HostReader()
    assert reader.usage({"gone-0": process.pid}) == {}


def test_a_process_that_exits_between_ticks_is_left_out_and_its_file_closed() -> None:
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    reader = HostReader()
    try:
        open_before = len(os.listdir("/proc/self/fd"))
        assert reader.usage({"short-0": process.pid})["short-0"].threads == 1
        assert process.stdin is not None
        process.stdin.close()
        process.wait(30)
        assert reader.usage({"short-0": process.pid}) == {}  # the file kept open no longer reads
        reader.usage({})
        assert len(os.listdir("/proc/self/fd")) <= open_before  # nothing left open for it
    finally:
        reader.close()
        process.kill()
        process.wait(30)


def test_host_figures() -> None:
    reader = HostReader()
    first = reader.host()
    assert first.cpu_percent is None
    assert first.memory_total_bytes == psutil.virtual_memory().total
    assert first.memory_used_bytes is not None and 0 < first.memory_used_bytes < first.memory_total_bytes
    assert first.load_average is not None and len(first.load_average) == 3
    second = reader.host()
    assert second.cpu_percent is not None and 0 <= second.cpu_percent <= 100
