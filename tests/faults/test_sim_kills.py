"""Kill -9 a random worker replica of the simulated graph every 2 s under load (issue 11, item 7).

The graph runs under the real local connector (circusd, which restarts each killed replica under the same
watcher name). Once the load stops, every request that arrived has completed or failed visibly (the
frontend's drain check passes), and after shutdown no process ever recorded is left.

``PLANNER_TUI_FAULT_KILL_S`` sets how long replicas are killed (default 20 s; CI uses the full 60 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

import psutil

from planner_tui.connectors.local import LocalConnector
from planner_tui.sim import control
from tests.connectors.local.conftest import alive, kill_leftovers, recorded_pids
from tests.sim.test_local_graph import sim_graph

KILL_S = float(os.environ.get("PLANNER_TUI_FAULT_KILL_S", "20"))
KILL_EVERY_S = 2.0
DRAIN_TIMEOUT_S = 45.0  # lease (3 s) + requeued requests served again, on a loaded machine


class PidWatch:
    """Records every replica pid the connector shows, in a background task (stopped within one tick)."""

    def __init__(self, conn: LocalConnector) -> None:
        self.conn = conn
        self.pids: set[int] = set()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def see(self) -> dict[str, list[int]]:
        """Record the pids shown now; returns the worker replicas' pids by component."""
        workers: dict[str, list[int]] = {}
        for name, state in self.conn.component_states().items():
            pids = [r.pid for r in state.replicas if r.pid]
            self.pids.update(pids)
            if name != "frontend":
                workers[name] = pids
        circusd = self.conn.supervisor.state.circusd
        if circusd is not None:
            self.pids.add(circusd.pid)
        return workers

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.see()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.1)

    def __enter__(self) -> PidWatch:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    async def stopped(self) -> None:
        """Wait for the background task to end (bounded)."""
        self._stop.set()
        if self._task is not None:
            await asyncio.wait_for(self._task, 5)


async def until(check: Any, timeout: float, what: str) -> Any:
    """Poll the async ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.1)


async def test_kill_9_a_random_worker_every_2_s_under_load_loses_no_request(isolated_dirs: Path) -> None:
    root = isolated_dirs / "state"
    graph = sim_graph("simkills", rps=6, prefill=2, decode=3, max_crash_restarts=1000)
    url = f"http://127.0.0.1:{graph.components['frontend'].port}"
    conn = await LocalConnector.create(graph.namespace, graph=graph, crash_backoff_s=0.1, crash_reset_after_s=1.0)
    watch = PidWatch(conn)
    kills: list[tuple[str, int]] = []
    rng = random.Random(11)
    try:
        await conn.wait_until_stable(list(graph.components), timeout=60)
        watch.see()
        frontend_pid = conn.component_states()["frontend"].replicas[0].pid
        with watch:
            await until(lambda: _stats_field(url, "completed"), 40, "the first completed request")
            deadline = time.monotonic() + KILL_S
            while time.monotonic() < deadline:
                workers = watch.see()
                victims = [(c, pid) for c, pids in workers.items() for pid in pids]
                if victims:
                    component, pid = rng.choice(victims)
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                        kills.append((component, pid))
                await asyncio.sleep(KILL_EVERY_S)  # the fault's cadence, not a synchronisation
            during = await control.get_stats(url)
            await control.set_profile(url, {"kind": "constant", "rps": 0})  # stop the load
            final = await _drained_or_timed_out(url, DRAIN_TIMEOUT_S)
            assert conn.component_states()["frontend"].replicas[0].pid == frontend_pid  # never killed
        await watch.stopped()

        report = final["conservation"]
        detail = {k: final[k] for k in ("conservation", "handed_back", "workers")}
        assert report["drain_check"] == "passed", detail
        assert report["drained"] is True and report["in_flight"] == 0, detail
        assert report["arrived"] == report["completed"] + report["failed"], detail
        assert set(report["failed_reasons"]) <= {"worker lost"}, detail  # failures are visible, with a reason
        assert report["arrived"] >= during["requests_in"] > 20 and report["completed"] > 0, detail
        assert final["handed_back"] > 0, detail  # killed workers' requests went back to the queues
        assert len(kills) >= max(1, int(KILL_S / KILL_EVERY_S) - 2), kills
        print(f"{len(kills)} kills in {KILL_S:g} s; {report}", file=sys.stderr)
    finally:
        await watch.stopped()
        watch.pids.update(pid for pid, _ in recorded_pids(root))
        try:
            await asyncio.wait_for(conn.shutdown(stop_graph=True), 40)
        finally:
            everything = sorted(watch.pids | {pid for pid, _ in recorded_pids(root)})
            left = [pid for pid in everything if alive(pid)]
            kill_leftovers([(pid, None) for pid in left])
    assert left == [], f"processes left after shutdown: {left}"
    ours = [
        p.info["pid"]
        for p in psutil.process_iter(["pid", "cmdline"])
        if "circus" in " ".join(p.info["cmdline"] or []) and str(root) in " ".join(p.info["cmdline"] or [])
    ]
    assert ours == [], f"circusd processes of this graph left: {ours}"


async def _stats_field(url: str, field: str) -> Any:
    return (await control.get_stats(url))[field]


async def _drained_or_timed_out(url: str, timeout: float) -> dict[str, Any]:
    """The frontend's stats once its drain check is decided, or as they are after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        stats = await control.get_stats(url)
        if stats["conservation"]["drain_check"] in ("passed", "failed") or time.monotonic() > deadline:
            return dict(stats)
        await asyncio.sleep(0.1)
