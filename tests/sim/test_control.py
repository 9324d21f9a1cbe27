"""The async control client against a real frontend process (what the dashboard's load key uses)."""

from __future__ import annotations

import pytest

from planner_tui.connectors.errors import ConnectorError
from planner_tui.sim import control
from tests.sim.conftest import SimGraph, free_port


async def test_get_set_and_scale_the_load(sim: SimGraph) -> None:
    frontend = sim.start_frontend("--profile", "sine", "--min-rps", "2", "--max-rps", "18", "--period", "180")
    profile = await control.get_profile(frontend.url)
    assert {k: profile[k] for k in ("kind", "min_rps", "max_rps", "period_s")} == {
        "kind": "sine",
        "min_rps": 2.0,
        "max_rps": 18.0,
        "period_s": 180.0,
    }
    scaled = await control.scale_load(frontend.url, 1.5)
    assert (scaled["min_rps"], scaled["max_rps"]) == (3.0, 27.0)
    now = await control.set_profile(frontend.url, {"kind": "constant", "rps": 12})
    assert now["rps"] == 12.0 and now["isl"] == profile["isl"]
    stats = await control.get_stats(frontend.url)
    assert stats["target_rps"] == 12.0 and stats["conserved"] is True

    with pytest.raises(control.SimControlError) as info:
        await control.set_profile(frontend.url, {"kind": "constant", "rps": -3})
    assert info.value.status == 400 and "'rps' must be >= 0, got -3" in str(info.value)
    with pytest.raises(control.SimControlError, match="a number >= 0"):
        await control.scale_load(frontend.url, -1)
    assert (await control.get_profile(frontend.url))["rps"] == 12.0  # refused changes change nothing


async def test_no_frontend_is_a_clear_connector_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConnectorError, match=f"no simulated frontend answers at {url}"):
        await control.get_profile(url)
