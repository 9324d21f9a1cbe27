"""Pod logs through the API server's log proxy (to the fake kubelet behind Node node-1): the last lines of
a component's pods merged with their pod names, and following them across a pod that appears."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

from planner_tui.model.logs import LogLine
from tests.k8s.cluster import KubeCluster
from tests.k8s.helpers_connector import cluster_graph, dynamo_pod, opened, ready_dgd
from tests.k8s.kubelet import FakeKubelet
from tests.k8s.operator import Operator


async def next_line(stream: AsyncIterator[LogLine], timeout_s: float = 10.0) -> LogLine:
    return await asyncio.wait_for(anext(stream), timeout_s)


async def test_tail_merges_the_pods_of_a_component_by_time(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str, kubelet: FakeKubelet
) -> None:
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace, replicas=2)
    first = dynamo_pod(operator, kube_namespace, "decode", 0)
    second = dynamo_pod(operator, kube_namespace, "decode", 1)
    other = dynamo_pod(operator, kube_namespace, "prefill", 0)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    for i in range(6):  # interleaved in time: first, second, first, ...
        pod = first if i % 2 == 0 else second
        kubelet.write(kube_namespace, pod, f"line {i} of {pod}", at=start + dt.timedelta(seconds=i))
    kubelet.write(kube_namespace, other, "a prefill line", at=start)
    async with opened(cluster_graph(kube_cluster, kube_namespace)) as connector:
        lines = await connector.get_component_logs("decode", lines=4)
        assert [line.format() for line in lines] == [
            f"[{first}] line 2 of {first}",
            f"[{second}] line 3 of {second}",
            f"[{first}] line 4 of {first}",
            f"[{second}] line 5 of {second}",
        ]
        assert lines[0].timestamp == (start + dt.timedelta(seconds=2)).timestamp()
        assert all(line.component == "decode" for line in lines)


async def test_follow_streams_new_lines_and_picks_up_a_new_pod(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str, kubelet: FakeKubelet
) -> None:
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace)
    first = dynamo_pod(operator, kube_namespace, "decode", 0)
    kubelet.write(kube_namespace, first, "written before following")
    async with opened(cluster_graph(kube_cluster, kube_namespace)) as connector:
        stream = connector.follow_component_logs("decode")
        try:
            # the follower connects in the background: keep writing until a line arrives
            reader = asyncio.ensure_future(next_line(stream, 15))
            for i in range(150):
                kubelet.write(kube_namespace, first, f"live {i}")
                done, _ = await asyncio.wait({reader}, timeout=0.1)
                if done:
                    break
            line = reader.result()
            assert line.replica == first and line.text.startswith("live ")

            # a scale-up: a new pod starts; its lines from its very first one come through, prefixed
            second = dynamo_pod(operator, kube_namespace, "decode", 1, running=False)
            kubelet.write(kube_namespace, second, "second pod: first line")
            operator.set_pod_status(kube_namespace, second)  # the container runs
            kubelet.write(kube_namespace, second, "second pod: second line")
            seen: list[str] = []
            while "second pod: second line" not in seen:
                line = await next_line(stream)
                if line.replica == second:
                    seen.append(line.text)
            assert seen == ["second pod: first line", "second pod: second line"]
            assert line.format() == f"[{second}] second pod: second line"
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
