"""Setting a graph up: a graph-level ``[env]``, another interpreter for ``{python}``, ``gpus = []``.
Real replica processes under a real circusd."""

from __future__ import annotations

import logging
import stat
import sys
from pathlib import Path

import pytest

from planner_tui.config import validate_graph
from planner_tui.metrics.collector import Collector
from planner_tui.model.replicas import Phase
from tests.connectors.local.conftest import eventually, make_graph, replica_args, worker


async def started_lines(conn, component: str = "decode") -> list[str]:  # type: ignore[no-untyped-def]
    """The replica's log lines once it is ready."""
    await conn.wait_until_stable([component], 30)
    lines: list[str] = []

    async def has_env() -> bool:
        lines[:] = [line.text for line in await conn.get_component_logs(component, 50)]
        return any(" env " in text or " python " in text for text in lines)

    await eventually(has_env, what="the replica's start lines")
    return lines


async def test_graph_env_reaches_every_component_and_a_components_env_overrides_it(connect) -> None:  # type: ignore[no-untyped-def]
    printing = replica_args("--print-env", "SHARED", "--print-env", "BOTH", "--print-env", "OWN")
    graph = validate_graph(
        {
            **make_graph("envs", {"decode": worker()}).model_dump(mode="json", exclude_defaults=True),
            "env": {"SHARED": "graph-{component}-{replica}", "BOTH": "from-graph"},
            "components": {
                "decode": worker(args=printing, env={"BOTH": "from-component", "OWN": "{port}"}),
                "prefill": worker(role="prefill", args=printing),
            },
        }
    )
    conn = await connect(graph)
    decode = await started_lines(conn, "decode")
    port = conn.component_states()["decode"].replicas[0].port
    assert "decode0 env SHARED=graph-decode-0" in decode
    assert "decode0 env BOTH=from-component" in decode
    assert f"decode0 env OWN={port}" in decode
    prefill = await started_lines(conn, "prefill")
    assert "prefill0 env SHARED=graph-prefill-0" in prefill
    assert "prefill0 env BOTH=from-graph" in prefill
    assert "prefill0 env OWN=<unset>" in prefill


async def test_python_names_the_interpreter_of_python_commands(connect, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # an "interpreter of another venv": a wrapper that marks its processes, then runs this Python
    wrapper = tmp_path / "venv" / "bin" / "python"
    wrapper.parent.mkdir(parents=True)
    wrapper.write_text(f'#!/bin/sh\nexport VIA_OTHER_PYTHON=yes\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    graph = validate_graph(
        {
            **make_graph("venvpy", {"decode": worker()}).model_dump(mode="json", exclude_defaults=True),
            "python": str(wrapper),
            "components": {"decode": worker(args=replica_args("--print-env", "VIA_OTHER_PYTHON"))},
        }
    )
    conn = await connect(graph)
    lines = await started_lines(conn)
    assert "decode0 env VIA_OTHER_PYTHON=yes" in lines


async def test_a_missing_python_fails_the_replica_naming_it(connect, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    missing = tmp_path / "no-venv" / "bin" / "python"
    graph = validate_graph(
        {
            **make_graph("nopy", {"decode": worker()}).model_dump(mode="json", exclude_defaults=True),
            "python": str(missing),
        }
    )
    conn = await connect(graph)
    await eventually(lambda: conn.component_states()["decode"].replicas[0].phase is Phase.FAILED)
    reason = conn.component_states()["decode"].replicas[0].reason or ""
    assert str(missing) in reason and "does not exist" in reason


async def test_no_gpus_declared_means_no_nvml_and_no_gpu_warning(
    connect,  # type: ignore[no-untyped-def]
    caplog: pytest.LogCaptureFixture,
) -> None:
    graph = make_graph("nogpus", {"decode": worker(gpus_per_replica=0)}, gpus=[])
    conn = await connect(graph)
    await conn.wait_until_stable(["decode"], 30)
    collector = Collector(conn, graph, interval_s=0.5)
    assert "nvml" not in {source.name for source in collector.sources}
    with caplog.at_level(logging.DEBUG):
        try:
            snapshot = await collector.collect_once()
        finally:
            await collector.stop()
    assert snapshot.gpus == () and snapshot.gpu_status is None
    assert not [r for r in caplog.records if "nvml" in r.getMessage().lower() or "nvidia" in r.getMessage().lower()]
    replica = conn.component_states()["decode"].replicas[0]
    assert replica.gpus == ()
