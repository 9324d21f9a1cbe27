"""End to end: the demo graph's planner delegates to a local-environment Global Planner that runs the
demo's real processes; and the global connector's degraded state when the service is away."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import psutil
import pytest

from planner_tui.config import GraphConfig, validate_graph
from planner_tui.connectors.capabilities import GpuInventory, ProcessIds
from planner_tui.connectors.errors import ConnectorError
from planner_tui.globalplanner.tokens import add_token, new_token
from planner_tui.loadcontrol.client import SimControlError
from planner_tui.model import Outcome
from planner_tui.planner.audit import audit_path_for, read_records
from planner_tui.planner.records import summary_line
from planner_tui.planner.state import Pin
from planner_tui.runtime import Session
from tests.connectors.local.conftest import eventually
from tests.globalplanner.conftest import NS
from tests.runtime.conftest import next_decision
from tests.runtime.test_demo_e2e import sped_up_demo


async def push_load(session: Session, factor: float = 3.0, timeout: float = 30.0) -> None:
    """The dashboard's load key, once the service's frontend (another process) serves its control API."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            await session.scale_load(factor)
            return
        except SimControlError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)  # the frontend writes its token as it starts: nothing to wait on


def delegating(graph: GraphConfig, address: str, token_file: Path | None) -> GraphConfig:
    """``graph`` with ``[connector] kind = "global"`` pointing at the service (local execution)."""
    data = graph.model_dump(mode="json", exclude_none=True)
    data["connector"] = {
        "kind": "global",
        "address": address,
        "global_planner_namespace": NS,
        "graph_deployment_name": "demo",
        "timeout_s": 10,
        "retries": 2,
        "health_interval_s": 0.25,
    } | ({"token_file": str(token_file)} if token_file else {})
    return validate_graph(data)


async def test_the_demo_planner_delegates_scaling_to_the_global_planner(start_service, tmp_path, open_session) -> None:
    demo = sped_up_demo("gp-demo")
    server_tokens, client_token = tmp_path / "tokens.toml", tmp_path / "gp-demo.token"
    token = new_token()
    add_token(server_tokens, "namespace", "gp-demo", token)
    client_token.write_text(token + "\n")
    os.chmod(client_token, 0o600)
    gp = start_service(environment="local", graphs={"demo": demo}, token_file=server_tokens, rate_per_s=50)

    graph = delegating(demo, gp.url, client_token)
    session: Session = await open_session(graph)
    assert session.connector.label == f"delegated to {gp.url}"
    # the graph runs on this machine: its GPUs and processes are read as a local graph's
    assert isinstance(session.connector, GpuInventory) and isinstance(session.connector, ProcessIds)
    events = session.subscribe()
    await push_load(session)

    def decode_up(decision) -> bool:  # type: ignore[no-untyped-def]
        dec = decision.for_component("decode")
        return dec is not None and dec.target > dec.current and dec.outcome is Outcome.APPLIED

    up = await next_decision(events, decode_up, timeout=90, what="decode scaled up through the Global Planner")
    dec = up.for_component("decode")
    assert dec is not None and dec.answer is not None
    assert dec.answer.startswith("Global Planner: success: Scaled demo successfully (")
    assert f"decode={dec.target}" in dec.answer
    assert dec.answer in summary_line(up)

    # the service, not the planner, started the new worker: a real process the planner now sees
    states = await session.connector.get_component_states()
    assert states["decode"].desired_replicas >= dec.target
    assert all(r.pid for r in states["decode"].replicas)
    pids = await session.connector.replica_pids("decode")
    assert len(pids) >= dec.target and all(psutil.pid_exists(pid) for pid in pids.values())
    # both sides recorded it: the planner's decision with the answer, the service's request with its caller
    planner_records = list(read_records(audit_path_for(graph)))
    assert any(c.get("answer") == dec.answer for r in planner_records for c in r["components"])
    served = [
        r
        for r in gp.records()
        if r.get("caller") == "gp-demo"
        and r["status"] == "success"
        and {"sub_component_type": "decode", "component_name": "decode", "desired_replicas": dec.target}
        in r["request"]["target_replicas"]
    ]
    assert len(served) == 1 and served[0]["request"]["caller_namespace"] == "gp-demo"
    assert served[0]["current_replicas"]["decode"] == dec.target

    # closing the planner leaves the graph to the service: its processes keep running
    await session.close()
    after = await gp.service.registry.deployments[0].connector.get_component_states()
    assert after["decode"].ready_replicas >= 1 and after["frontend"].ready_replicas == 1


async def test_without_the_service_the_connector_is_degraded_and_the_planner_holds(
    start_service, tmp_path, open_session
) -> None:
    demo = sped_up_demo("gp-away")
    gp = start_service(environment="local", graphs={"demo": demo}, stop_graphs=False)
    graph = delegating(demo, gp.url, None)
    session: Session = await open_session(graph)
    connector = session.connector
    assert connector.reachable and connector.problems == []

    address = gp.url
    gp.thread.stop()  # the service goes away; its graph keeps running (--keep-graphs)
    await eventually(lambda: not connector.reachable, timeout=30, what="the health watch noticing")
    assert any(f"the Global Planner at {address} does not answer" in p for p in connector.problems)

    events = session.subscribe()
    session.runner.pin(Pin("decode", 2, reason="wants a change"))  # the planner now wants decode 1 -> 2

    def refused(decision) -> bool:  # type: ignore[no-untyped-def]
        dec = decision.for_component("decode")
        return dec is not None and dec.outcome is Outcome.FAILED and "backend unreachable" in (dec.error or "")

    held = await next_decision(events, refused, timeout=60, what="the planner holding while the service is away")
    dec = held.for_component("decode")
    assert dec is not None and dec.error is not None and "does not answer" in dec.error
    states = await connector.get_component_states()
    assert states["decode"].desired_replicas == 1  # nothing changed behind the planner's back
    with pytest.raises(ConnectorError, match="did not answer after 3 tries"):
        await connector.set_component_replicas([])


async def test_a_retried_change_whose_answers_were_lost_is_applied_once(start_service, two_graphs) -> None:
    from planner_tui.connectors.factory import open_connector
    from planner_tui.model.scaling import TargetReplica

    data = two_graphs["b"].model_dump(mode="json", exclude_none=True)
    data["components"]["decode"]["health_url"] = "http://127.0.0.1:{port}/never-ready"
    never_ready = validate_graph(data)
    gp = start_service(environment="local", graphs={"b": never_ready}, blocking_timeout_s=3)
    settings = {"graph_deployment_name": "b", "timeout_s": 0.5, "retries": 2, "health_interval_s": 5}
    graph = validate_graph(
        data | {"connector": {"kind": "global", "address": gp.url, "global_planner_namespace": NS} | settings}
    )
    connector = await open_connector(graph)
    try:
        # blocking: the service waits for a replica that never becomes ready; every try times out
        with pytest.raises(ConnectorError, match=r"did not answer after 3 tries: timed out"):
            await connector.set_component_replicas(
                [TargetReplica(component_name="decode", desired_replicas=2)], blocking=True
            )
    finally:
        await connector.shutdown()
    await asyncio.to_thread(gp.thread.stop)  # lets the first (and only) application finish
    records = [r for r in gp.records() if r.get("request")]
    applied = [r for r in records if not r.get("replayed")]
    assert len(applied) == 1 and applied[0]["status"] == "scaling"  # the deadline's answer, sent once
    assert len(records) == 3 and {r["request_id"] for r in records} == {applied[0]["request_id"]}
