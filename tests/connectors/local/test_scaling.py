"""Scaling a local graph: real circusd, real replica processes, GPUs and ports per replica."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import psutil
import pytest

from planner_tui.connectors.errors import ComponentNotFound, ScalingRefused
from planner_tui.model.replicas import Phase
from planner_tui.model.scaling import TargetReplica
from tests.connectors.local.conftest import alive, eventually, make_graph, worker


def live_pids(states, component: str) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """replica index -> pid of a component's replicas that have a process."""
    return {r.index: r.pid for r in states[component].replicas if r.pid is not None}


async def test_scale_up_to_four_gives_each_replica_its_own_gpu_port_and_env(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("scale-up", {"decode": worker(env={"MODEL_NAME": "tiny-{replica}"})})
    conn = await connect(graph)

    assert await conn.scale_component("decode", 4) is True
    assert await conn.get_component_replicas("decode") == 4
    await conn.wait_until_stable(["decode"], 30)

    replicas = (await conn.get_component_states())["decode"].replicas
    assert [r.phase for r in replicas] == [Phase.READY] * 4
    assert sorted(g for r in replicas for g in r.gpus) == [0, 1, 2, 3]
    assert len({r.port for r in replicas}) == 4
    for replica in replicas:
        env = psutil.Process(replica.pid).environ()
        assert env["CUDA_VISIBLE_DEVICES"] == str(replica.gpus[0])
        assert env["MODEL_NAME"] == f"tiny-{replica.index}"
        assert env["HOME"].startswith("/")
        assert replica.health_url == f"http://127.0.0.1:{replica.port}/health"
    assert await conn.gpu_holders() == {r.gpus[0]: f"scale-up_decode_{r.index}" for r in replicas}
    assert await conn.free_gpus() == []


async def test_scale_down_removes_the_newest_replicas_and_frees_their_gpus_after_exit(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("scale-down", {"decode": worker()})
    conn = await connect(graph)
    await conn.scale_component("decode", 4)
    await conn.wait_until_stable(["decode"], 30)
    before = live_pids(await conn.get_component_states(), "decode")

    assert await conn.scale_component("decode", 1) is True
    await conn.wait_until_stable(["decode"], 30)

    after = (await conn.get_component_states())["decode"].replicas
    assert [(r.index, r.pid) for r in after] == [(0, before[0])]  # the oldest replica was not touched
    for index in (1, 2, 3):
        assert not alive(before[index])
    assert await conn.gpu_holders() == {after[0].gpus[0]: "scale-down_decode_0"}
    assert sorted(await conn.free_gpus()) == sorted({0, 1, 2, 3} - set(after[0].gpus))
    assert await conn.scale_component("decode", 1) is False


async def test_scale_down_removes_a_hung_replica_before_the_ready_ones(connect) -> None:  # type: ignore[no-untyped-def]
    """The oldest replica hangs (SIGSTOP: its health endpoint stops answering). Silent for a moment, it
    still counts as serving (one slow probe on a busy machine is no reason to take it first); past its
    readiness timeout, a scale-down removes it before the ready ones."""
    conn = await connect(make_graph("scale-hung", {"decode": worker(ready_timeout_s=1.5)}))
    await conn.scale_component("decode", 4)
    await conn.wait_until_stable(["decode"], 30)
    before = live_pids(await conn.get_component_states(), "decode")
    os.kill(before[0], signal.SIGSTOP)

    def reason_of_0() -> str:
        return next(r for r in conn.component_states()["decode"].replicas if r.index == 0).reason or ""

    try:
        await eventually(lambda: reason_of_0().startswith("health endpoint stopped answering"), what="the hang")
        assert await conn.scale_component("decode", 3) is True  # just silent: the newest goes, as ever
        kept = {r.index for r in conn.component_states()["decode"].replicas if r.phase is not Phase.STOPPING}
        assert kept == {0, 1, 2}
        await eventually(lambda: reason_of_0().startswith("not ready after 1.5 s"), what="its readiness timeout")
        assert await conn.scale_component("decode", 1) is True
        await conn.wait_until_stable(["decode"], 30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(before[0], signal.SIGCONT)
    after = (await conn.get_component_states())["decode"].replicas
    assert [(r.index, r.pid, r.phase) for r in after] == [(1, before[1], Phase.READY)]
    assert not any(alive(before[i]) for i in (0, 2, 3))


async def test_refused_when_gpus_run_out_and_nothing_is_half_started(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("gpu-short", {"decode": worker(max_replicas=4)}, gpus=[0, 1])
    conn = await connect(graph)
    await conn.scale_component("decode", 2)
    await conn.wait_until_stable(["decode"], 30)
    pids = live_pids(await conn.get_component_states(), "decode")

    with pytest.raises(ScalingRefused) as refused:
        await conn.scale_component("decode", 4)
    message = str(refused.value)
    assert "needs 2 GPUs" in message and "0 of 2 free" in message
    assert "GPU 0: gpu-short_decode_0" in message and "GPU 1: gpu-short_decode_1" in message

    states = await conn.get_component_states()
    assert live_pids(states, "decode") == pids
    assert states["decode"].desired_replicas == 2
    assert len(states["decode"].replicas) == 2


async def test_invalid_counts_are_refused_with_the_bound_and_unknown_names_list_the_known(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("bounds", {"decode": worker(min_replicas=1, max_replicas=3)})
    conn = await connect(graph)

    with pytest.raises(ScalingRefused, match="above max_replicas = 3"):
        await conn.scale_component("decode", 4)
    with pytest.raises(ScalingRefused, match="below min_replicas = 1"):
        await conn.scale_component("decode", 0)
    with pytest.raises(ScalingRefused, match="must not be negative"):
        await conn.scale_component("decode", -1)
    with pytest.raises(ComponentNotFound, match="known components: decode"):
        await conn.scale_component("decoder", 2)
    with pytest.raises(ComponentNotFound):
        await conn.get_component_logs("nope")
    assert await conn.get_component_replicas("decode") == 1

    assert await conn.add_component("decode") is True
    assert await conn.get_component_replicas("decode") == 2
    assert await conn.remove_component("decode") is True
    with pytest.raises(ScalingRefused, match="below min_replicas = 1"):
        await conn.remove_component("decode")
    assert [r.index for r in conn.component_states()["decode"].replicas if r.phase is not Phase.STOPPING] == [0]


async def test_set_component_replicas_by_sub_component_type_validates_everything_first(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph(
        "targets",
        {
            "prefill": worker(role="prefill", max_replicas=2),
            "decode": worker(role="decode", max_replicas=2),
        },
    )
    conn = await connect(graph)
    before = await conn.get_component_states()

    with pytest.raises(ScalingRefused, match="decode: 3 replicas is above max_replicas = 2"):
        await conn.set_component_replicas(
            [
                TargetReplica(sub_component_type="prefill", desired_replicas=2),
                TargetReplica(sub_component_type="decode", desired_replicas=3),
            ]
        )
    unchanged = await conn.get_component_states()
    assert {n: live_pids(unchanged, n) for n in unchanged} == {n: live_pids(before, n) for n in before}

    await conn.set_component_replicas(
        [
            TargetReplica(sub_component_type="prefill", desired_replicas=2),
            TargetReplica(component_name="decode", desired_replicas=2),
        ],
        blocking=True,
    )
    states = await conn.get_component_states()
    assert states["prefill"].ready_replicas == 2 and states["decode"].ready_replicas == 2


async def test_scaling_one_component_does_not_touch_another(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph("isolation", {"prefill": worker(role="prefill"), "decode": worker(role="decode")}, gpus=range(6))
    conn = await connect(graph)
    await conn.scale_component("prefill", 2)
    await conn.wait_until_stable(["prefill", "decode"], 30)
    prefill = live_pids(await conn.get_component_states(), "prefill")

    await conn.scale_component("decode", 3)
    await conn.wait_until_stable(["decode"], 30)
    await conn.scale_component("decode", 1)
    await conn.wait_until_stable(["decode"], 30)

    states = await conn.get_component_states()
    assert live_pids(states, "prefill") == prefill
    assert all(alive(pid) for pid in prefill.values())
    assert states["prefill"].ready_replicas == 2


async def test_two_connectors_cannot_hand_out_the_same_gpu(connect) -> None:  # type: ignore[no-untyped-def]
    # two namespaces share the machine's GPUs 0-2; each runs one replica, one GPU remains
    first = await connect(make_graph("share-a", {"decode": worker()}, gpus=[0, 1, 2]))
    second = await connect(make_graph("share-b", {"decode": worker()}, gpus=[0, 1, 2]))
    assert set((await first.gpu_holders()).values()) == {"share-a_decode_0", "share-b_decode_0"}

    results = await asyncio.gather(
        first.scale_component("decode", 2), second.scale_component("decode", 2), return_exceptions=True
    )

    refused = [r for r in results if isinstance(r, ScalingRefused)]
    assert len(refused) == 1, results
    assert "0 of 3 free" in str(refused[0])
    holders = await first.gpu_holders()
    assert sorted(holders) == [0, 1, 2]
    gpus_a = [g for r in (await first.get_component_states())["decode"].replicas for g in r.gpus]
    gpus_b = [g for r in (await second.get_component_states())["decode"].replicas for g in r.gpus]
    assert not set(gpus_a) & set(gpus_b)
    assert len(gpus_a) + len(gpus_b) == 3


async def test_new_replica_process_runs_right_after_scale_component_returns(connect) -> None:  # type: ignore[no-untyped-def]
    conn = await connect(make_graph("fast-start", {"decode": worker()}))
    await conn.scale_component("decode", 2)
    replica = (await conn.get_component_states())["decode"].replicas[1]
    assert replica.pid is not None and alive(replica.pid)
    await eventually(lambda: conn.component_states()["decode"].ready_replicas == 2, what="both replicas ready")


async def test_targets_that_move_gpus_between_components_wait_for_the_removed_replicas(connect) -> None:  # type: ignore[no-untyped-def]
    graph = make_graph(
        "rebalance",
        {"prefill": worker(role="prefill", max_replicas=2), "decode": worker(role="decode", max_replicas=2)},
        gpus=[0, 1, 2],
    )
    conn = await connect(graph)
    await conn.scale_component("decode", 2)
    await conn.wait_until_stable(["prefill", "decode"], 30)
    old_decode = live_pids(conn.component_states(), "decode")

    await conn.set_component_replicas(
        [
            TargetReplica(sub_component_type="prefill", desired_replicas=2),
            TargetReplica(sub_component_type="decode", desired_replicas=1),
        ],
        blocking=True,
    )

    states = conn.component_states()
    assert states["prefill"].ready_replicas == 2 and states["decode"].ready_replicas == 1
    assert not alive(old_decode[1])
    assert sorted(await conn.gpu_holders()) == [0, 1, 2]
    with pytest.raises(ScalingRefused, match="nothing was changed"):
        await conn.set_component_replicas([TargetReplica(component_name="decode", desired_replicas=2)])
