"""circusd notices a replica's exit when it happens (SIGCHLD), not at its periodic check, which is now a
slow backstop; an idle circusd stays idle."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from planner_tui.connectors.local import circusd as circusd_module
from planner_tui.connectors.local.circus_client import CircusClient
from planner_tui.connectors.local.circusd import Circusd


async def test_an_exit_is_reaped_and_reported_without_waiting_for_the_periodic_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # an hour between periodic checks: only the child's exit can make circusd notice within this test
    monkeypatch.setattr(circusd_module, "CHECK_DELAY_S", 3600.0)
    daemon = Circusd(tmp_path / "run")
    handle = await daemon.start()
    client = CircusClient(handle.endpoint)
    try:
        assert "check_delay = 3600.0" in (tmp_path / "run" / "circus.ini").read_text()
        await client.call("add", name="exits", cmd="sleep", args=["0.2"], start=True, options={"respawn": False})
        await client.call("add", name="stays", cmd="sleep", args=["600"], start=True, options={"respawn": False})
        statuses: dict[str, str] = {}
        for _ in range(300):  # at most 30 s
            reply = await client.call("status")
            statuses = reply.get("statuses", {})
            if statuses.get("exits") == "stopped":
                break
            await asyncio.sleep(0.1)
        assert statuses == {"exits": "stopped", "stays": "active"}
        # the exited child was reaped, not left a zombie
        children = psutil.Process(handle.pid).children()
        assert [c.status() for c in children] == [psutil.STATUS_SLEEPING]
    finally:
        await client.close()
        await daemon.stop(handle)
