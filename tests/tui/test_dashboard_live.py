"""Keys against a real local graph: the effect is checked on the real processes (pids, counts, pins).

The graph is the runtime tests' one: prefill (1..2) and decode (1..3) load workers under circusd,
deciding every 0.5 s; the load a worker reports is set by rewriting a JSON file.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil
from textual.pilot import Pilot
from textual.widgets import RichLog

from planner_tui.model import Outcome, Phase, PlannerMode
from planner_tui.runtime import Session
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.screens import ConfirmDialog, LogScreen, MainScreen, QuitDialog
from planner_tui.tui.widgets import ComponentPanel, HeaderBar, StatusLine
from tests.runtime.conftest import LoadFile, session_graph

DEADLINE_S = 30.0


async def until(pilot: Pilot[None], check: Callable[[], bool], what: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        await pilot.pause(0.1)


def ready_pids(session: Session, component: str) -> list[int]:
    snapshot = session.latest_snapshot
    if snapshot is None or component not in snapshot.components:
        return []
    return [r.pid for r in snapshot.components[component].replicas if r.phase is Phase.READY and r.pid]


def running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def live(pids: list[int]) -> bool:
    return bool(pids) and all(running(pid) for pid in pids)


async def select(pilot: Pilot[None], app: DashboardApp, component: str) -> None:
    await until(pilot, lambda: app.snapshot is not None and component in app.main_screen._panels, "the panels")
    screen = app.screen
    assert isinstance(screen, MainScreen)
    for _ in range(5):
        if screen.selected_component() == component:
            return
        await pilot.press("down")
    raise AssertionError(f"could not select {component}")


async def test_plus_adds_a_process_and_p_pins_so_the_planner_holds(open_session, load_file: LoadFile) -> None:
    graph = session_graph("tui-scale", load_file)
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.7)  # between the thresholds: the planner leaves decode alone
    session = await open_session(graph)
    app = DashboardApp(session, close_on_quit=False, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(ready_pids(session, "decode")) == 1, "one ready decode replica")
        first = ready_pids(session, "decode")
        await select(pilot, app, "decode")

        await pilot.press("plus")
        await until(pilot, lambda: len(ready_pids(session, "decode")) == 2, "a second decode process")
        pids = ready_pids(session, "decode")
        assert first[0] in pids and live(pids) and len(set(pids)) == 2
        assert session.pins["decode"].replicas == 2
        await until(
            pilot,
            lambda: "PINNED @2" in str(app.main_screen.query_one("#component-decode", ComponentPanel).render()),
            "the pin badge",
        )

        # p unpins: with low load the planner takes decode back down to one process.
        load_file.set("decode", kv=0.1)
        await pilot.press("p")
        await until(pilot, lambda: "decode" not in session.pins, "the unpin")
        await until(pilot, lambda: len(ready_pids(session, "decode")) == 1, "the planner scaling decode down")

        # p pins at the current count: high load no longer scales it; the planner reports it holds.
        await pilot.press("p")
        await until(pilot, lambda: "decode" in session.pins, "the pin")
        assert session.pins["decode"].replicas == 1
        load_file.set("decode", kv=0.97)
        pinned_at = time.time()

        def held() -> bool:
            for decision in session.decisions:
                item = decision.for_component("decode")
                if decision.timestamp > pinned_at and item and item.outcome is Outcome.PINNED and item.desired > 1:
                    return True
            return False

        await until(pilot, held, "a decision held by the pin against the policy")
        snapshot = session.latest_snapshot
        assert snapshot is not None and snapshot.components["decode"].desired_replicas == 1
        assert len(snapshot.components["decode"].replicas) == 1


async def test_restart_replaces_the_processes_logs_show_them_and_quit_stops_the_graph(
    open_session, load_file: LoadFile
) -> None:
    graph = session_graph("tui-restart", load_file)
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.7)
    session = await open_session(graph)
    app = DashboardApp(session, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(
            pilot,
            lambda: len(ready_pids(session, "prefill")) == len(ready_pids(session, "decode")) == 1,
            "ready prefill and decode replicas",
        )
        old = ready_pids(session, "prefill")
        every = old + ready_pids(session, "decode")
        await select(pilot, app, "prefill")

        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "the confirmation")
        await pilot.press("y")
        await until(
            pilot,
            lambda: len(ready_pids(session, "prefill")) == 1 and ready_pids(session, "prefill") != old,
            "a new prefill process",
        )
        assert not any(running(pid) for pid in old)
        every += ready_pids(session, "prefill")

        await pilot.press("l")
        screen = app.screen
        assert isinstance(screen, LogScreen)
        view = screen.query_one(RichLog)
        await until(
            pilot,
            lambda: any("[prefill-0] prefill serving load on 127.0.0.1" in s.text for s in view.lines),
            "the replica's log line",
        )
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")

        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitDialog), "the quit dialog")
        await pilot.press("s")
        await until(pilot, lambda: not app.is_running, "the app to stop the graph and exit")
    assert len(every) == 3
    deadline = time.monotonic() + DEADLINE_S
    while any(running(pid) for pid in every) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(running(pid) for pid in every)


async def test_read_only_refuses_every_change_on_the_real_graph(open_session, load_file: LoadFile) -> None:
    graph = session_graph("tui-readonly", load_file)
    load_file.set("prefill", waiting=1.0)
    load_file.set("decode", kv=0.7)
    session = await open_session(graph, read_only=True)
    app = DashboardApp(session, read_only=True, close_on_quit=False, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(
            pilot,
            lambda: len(ready_pids(session, "decode")) == 1 and len(ready_pids(session, "prefill")) == 1,
            "a ready decode and a ready prefill replica",
        )
        before = ready_pids(session, "decode") + ready_pids(session, "prefill")
        await select(pilot, app, "decode")
        assert "READ-ONLY" in str(app.main_screen.query_one(HeaderBar).render())
        for key in ("plus", "s", "r", "p", "m", "minus"):
            await pilot.press(key)
            assert isinstance(app.screen, MainScreen)
        ticks = len(session.decisions)
        await until(pilot, lambda: len(session.decisions) >= ticks + 3, "three more planner ticks")
        assert ready_pids(session, "decode") + ready_pids(session, "prefill") == before and live(before)
        assert not session.pins and session.mode is PlannerMode.ADVISORY
        assert "refused" in str(app.main_screen.query_one(StatusLine).render())


async def test_a_second_dashboard_observes_the_owner_and_quitting_it_stops_nothing(
    open_session, load_file: LoadFile
) -> None:
    from planner_tui.runtime import GraphObserver, open_graph

    graph = session_graph("tui-observer", load_file)
    load_file.set("decode", kv=0.7)
    owner = await open_session(graph)
    observer = await open_graph(graph)
    assert isinstance(observer, GraphObserver)
    app = DashboardApp(observer, close_on_quit=True, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(ready_pids(owner, "decode")) == 1, "a ready decode replica")
        await until(pilot, lambda: app.snapshot is not None and "decode" in app.main_screen._panels, "the panels")
        header = str(app.main_screen.query_one(HeaderBar).render())
        assert "READ-ONLY" in header and "owned by pid" in header
        before = ready_pids(owner, "decode")
        await select(pilot, app, "decode")
        await pilot.press("plus")
        assert "owned by pid" in str(app.main_screen.query_one(StatusLine).render())
        await pilot.press("q")
        if isinstance(app.screen, QuitDialog):
            await pilot.press("enter")
    assert ready_pids(owner, "decode") == before and live(before)  # the owner's graph runs on
    assert owner.connector.supervisor.circusd_alive()  # type: ignore[attr-defined]
