"""Replica processes by pid: graceful stop (SIGTERM, timeout, SIGKILL) and resource use via psutil.

Blocking helpers: the connector runs them in worker threads.
"""

from __future__ import annotations

import contextlib
import time

import psutil

from planner_tui.model.replicas import ReplicaUsage


def _same_process(pid: int, create_time: float | None) -> psutil.Process | None:
    try:
        proc = psutil.Process(pid)
        if create_time is not None and abs(proc.create_time() - create_time) > 0.05:
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def create_time_of(pid: int) -> float | None:
    """The start time of ``pid`` (to recognise it later), or None if it is gone."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def is_running(pid: int | None, create_time: float | None = None) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped does not count)."""
    if not pid:
        return False
    proc = _same_process(pid, create_time)
    if proc is None:
        return False
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stop_process_tree(pid: int, create_time: float | None, graceful_timeout: float) -> bool:
    """SIGTERM ``pid`` and its descendants, SIGKILL whatever is left after ``graceful_timeout``.

    Returns True when the process had to be killed. Waits until every process of the tree exited
    (or became a zombie for its parent to reap).
    """
    proc = _same_process(pid, create_time)
    if proc is None:
        return False
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess):
            member.terminate()
    deadline = time.monotonic() + graceful_timeout
    killed = False
    while True:
        alive = [m for m in tree if _alive(m)]
        if not alive:
            return killed
        if time.monotonic() >= deadline:
            for member in alive:
                with contextlib.suppress(psutil.NoSuchProcess):
                    member.kill()
            killed = True
            deadline = time.monotonic() + 10.0
        time.sleep(0.02)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def usage_of(pid: int | None, create_time: float | None, gpu_memory: dict[int, float]) -> ReplicaUsage:
    """CPU % (over a short sample), RSS and threads of ``pid`` and its children, GPU memory if known."""
    if not pid:
        return ReplicaUsage()
    proc = _same_process(pid, create_time)
    if proc is None:
        return ReplicaUsage()
    try:
        tree = [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return ReplicaUsage()
    cpu = 0.0
    rss = 0
    threads = 0
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            member.cpu_percent(None)
    time.sleep(0.1)
    for member in tree:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied), member.oneshot():
            cpu += member.cpu_percent(None)
            rss += member.memory_info().rss
            threads += member.num_threads()
    gpu = sum(gpu_memory.get(m.pid, 0.0) for m in tree) if gpu_memory else None
    if gpu_memory and not any(m.pid in gpu_memory for m in tree):
        gpu = None
    return ReplicaUsage(cpu_percent=cpu, rss_bytes=rss, threads=threads, gpu_memory_mib=gpu)


def port_listener(port: int) -> tuple[int | None, str | None]:
    """``(pid, name)`` of the process listening on TCP ``port`` (loopback or any address).

    ``(None, None)`` when psutil may not tell (another user's process without privileges) or
    nothing listens.
    """
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return None, None
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr or conn.laddr.port != port:
            continue
        if conn.laddr.ip not in ("127.0.0.1", "0.0.0.0", "::", "::1", "::ffff:127.0.0.1"):
            continue
        if conn.pid is None:
            return None, None
        try:
            return conn.pid, psutil.Process(conn.pid).name()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return conn.pid, None
    return None, None


def describe_holder(pid: int | None, name: str | None) -> str:
    """``PID 1234 (nc)``, or ``another program`` when the holder is unknown."""
    if pid is None:
        return "another program"
    return f"PID {pid} ({name})" if name else f"PID {pid}"


def descends_from(pid: int, ancestor: int, ancestor_create_time: float | None = None) -> bool:
    """True when ``pid`` is ``ancestor`` or one of its descendants."""
    root = _same_process(ancestor, ancestor_create_time)
    if root is None:
        return False
    if pid == root.pid:
        return True
    try:
        return any(child.pid == pid for child in root.children(recursive=True))
    except psutil.NoSuchProcess:
        return False
