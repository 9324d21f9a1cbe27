"""A copy of the embedded demo on free ports, and `planner-tui record` run on it as a real process."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from planner_tui.config import demo_graph_path

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_copy(directory: Path, namespace: str) -> Path:
    """The demo graph file with its own namespace, frontend port and port range."""
    text = demo_graph_path().read_text(encoding="utf-8")
    base = 24000 + free_port() % 30000
    text = text.replace('namespace = "demo"', f'namespace = "{namespace}"')
    text = re.sub(r"port_range = \[\d+, \d+\]", f"port_range = [{base}, {base + 99}]", text)
    text = text.replace("port = 21080", f"port = {free_port()}")
    path = directory / f"{namespace}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def start_record(graph_file: Path, output: Path, *extra: str) -> subprocess.Popen[bytes]:
    """``planner-tui record --graph GRAPH -o OUTPUT EXTRA...`` as a child process (stderr to a file)."""
    log = open(output.with_suffix(".log"), "wb")  # noqa: SIM115 - the child keeps writing to it
    return subprocess.Popen(
        [sys.executable, "-m", "planner_tui", "record", "--graph", str(graph_file), "-o", str(output), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )


def wait_until(condition: Callable[[], T | None], timeout: float, what: str, interval: float = 0.2) -> T:
    """Poll ``condition`` until it returns something truthy; fail naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
