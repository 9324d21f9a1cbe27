"""The dashboard keeps answering while the graph under it is hurt: replicas and circusd killed with
-9, garbage and infinite metrics, a corrupt state file. Every applied decision is audited, and
quitting leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import psutil

from planner_tui.model import Phase
from planner_tui.planner.audit import read_records
from planner_tui.tui.app import DashboardApp
from planner_tui.tui.screens import HelpScreen, MainScreen, QuitDialog
from tests.connectors.local.conftest import alive, kill_leftovers, recorded_pids
from tests.runtime.conftest import LoadFile, session_graph
from tests.tui.test_dashboard_live import until


async def responds(pilot, app: DashboardApp) -> None:  # type: ignore[no-untyped-def]
    """The dashboard opens its help on '?' and closes it on escape."""
    await pilot.press("question_mark")
    await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen again")


def replica_pids(app: DashboardApp, component: str) -> list[int]:
    snap = app.snapshot
    if snap is None or component not in snap.components:
        return []
    return [r.pid for r in snap.components[component].replicas if r.pid and r.phase is Phase.READY]


async def test_the_dashboard_answers_through_faults(open_session, load_file: LoadFile, isolated_dirs: Path) -> None:  # type: ignore[no-untyped-def]
    graph = session_graph("faults-tui", load_file)
    load_file.set("decode", kv=0.5)
    session = await open_session(graph)
    root = isolated_dirs / "state"
    ever = set(recorded_pids(root))
    app = DashboardApp(session, close_on_quit=True, remember_theme=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(replica_pids(app, "decode")) == 1, "a ready decode replica")
        await responds(pilot, app)

        # a replica killed with -9 is restarted, and the dashboard goes on
        victim = replica_pids(app, "decode")[0]
        os.kill(victim, signal.SIGKILL)
        await until(pilot, lambda: replica_pids(app, "decode") not in ([], [victim]), "decode restarted")
        await responds(pilot, app)
        ever |= set(recorded_pids(root))

        # infinite KV usage: shown, never acted on
        load_file.path.write_text(json.dumps({"decode": {"kv": float("inf")}}))
        ticks = len(session.decisions)
        await until(pilot, lambda: len(session.decisions) >= ticks + 3, "three planner ticks on garbage")
        assert session.latest_snapshot is not None
        assert session.latest_snapshot.components["decode"].desired_replicas == 1
        await responds(pilot, app)

        # garbage metrics
        load_file.path.write_text("{not json")
        await responds(pilot, app)

        # circusd killed with -9: the connector notices and starts it again with the replicas
        circusd = session.connector.supervisor.state.circusd  # type: ignore[attr-defined]
        os.kill(circusd.pid, signal.SIGKILL)
        await until(
            pilot,
            lambda: session.connector.supervisor.state.circusd.pid != circusd.pid,  # type: ignore[attr-defined]
            "circusd started again",
        )
        await until(pilot, lambda: len(replica_pids(app, "decode")) == 1, "decode ready again")
        await responds(pilot, app)
        ever |= set(recorded_pids(root))

        # the state file corrupted under the running graph
        state_file = root / "local" / "faults-tui.json"
        state_file.write_text("{torn")
        await until(pilot, lambda: len(replica_pids(app, "decode")) == 1, "decode ready")
        victim = replica_pids(app, "decode")[0]
        os.kill(victim, signal.SIGKILL)
        await until(pilot, lambda: replica_pids(app, "decode") not in ([], [victim]), "decode restarted again")
        await responds(pilot, app)
        ever |= set(recorded_pids(root))

        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, QuitDialog), "the quit dialog")
        await pilot.press("s")  # stop the graph
        await until(pilot, lambda: not app.is_running, "the app to stop the graph and exit")
    # every decision that changed the graph is in the audit log with its outcome
    records = list(read_records(Path(root) / "faults-tui" / "decisions.jsonl"))
    assert records
    # quitting stopped the graph: nothing we ever saw runs
    await session.close(stop_graph=True)
    leftovers = [(p, t) for p, t in ever | set(recorded_pids(root)) if alive(p, t)]
    described = [" ".join(psutil.Process(p).cmdline()[-4:]) for p, _ in leftovers]
    kill_leftovers(leftovers)
    assert described == []
