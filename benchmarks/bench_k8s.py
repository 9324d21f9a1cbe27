"""The kubernetes connector against a real kube-apiserver + etcd (the test harness's cluster, loopback).

    python benchmarks/bench_k8s.py [--runs 20] [--idle-s 60]

Starts the harness's cluster (kube-apiserver v1.20.2, built once into ~/.cache/planner-tui), creates a
DGD of 8 services with 2 pods each, grants user ``planner`` examples/k8s/rbac.yaml, opens the
connector as that user and measures, each over ``--runs`` (min / median / max):

- scale round trip: ``scale_component`` (fresh read of the DGD, adapter 404, merge patch) until it returns;
- status -> state: from the test operator's patch of ``status.services`` (its request included) until
  the connector's state shows it (its watch; no request of its own);
- status -> Snapshot: the same, until a Collector (interval 0.25 s, no other source) publishes a
  Snapshot that shows it;

then leaves it idle for ``--idle-s`` seconds with the Collector ticking every 0.25 s and counts the API
requests of the resources the connector uses (dynamographdeployments, their adapters, pods) from the
API server's own ``apiserver_request_total`` (nothing else uses them in this private cluster), as
requests per minute: the target is watches only, no list per tick.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from planner_tui.config import GraphConfig, parse_graph  # noqa: E402
from planner_tui.connectors.kubernetes.connector import KubernetesConnector  # noqa: E402
from planner_tui.metrics.collector import Collector  # noqa: E402
from tests.k8s.build import ensure_kube_apiserver  # noqa: E402
from tests.k8s.cluster import KubeCluster  # noqa: E402
from tests.k8s.operator import Operator  # noqa: E402

NAMESPACE = "bench"
DGD = "bench"
COMPONENTS = [f"worker{i}" for i in range(8)]
RESOURCES = ("dynamographdeployments", "dynamographdeploymentscalingadapters", "pods")


def graph_for(cluster: KubeCluster) -> GraphConfig:
    text = f'namespace = "bench"\n[connector]\nkind = "kubernetes"\ndgd_name = "{DGD}"\n'
    text += f'k8s_namespace = "{NAMESPACE}"\nkubeconfig = "{cluster.kubeconfig("planner")}"\n'
    for name in COMPONENTS:
        text += f'[components.{name}]\nrole = "worker"\nmin_replicas = 1\nmax_replicas = 8\n'
    return parse_graph(text, "bench.toml")


def make_dgd(operator: Operator) -> None:
    operator.create_namespace(NAMESPACE)
    services = {name: {"componentType": "worker", "replicas": 2} for name in COMPONENTS}
    operator.create_dgd(NAMESPACE, {"metadata": {"name": DGD}, "spec": {"services": services}})
    for name in COMPONENTS:
        operator.set_service_status(NAMESPACE, DGD, name, replicas=2)
        for index in range(2):
            operator.create_dynamo_pod(NAMESPACE, DGD, name, index)
    operator.set_dgd_ready(NAMESPACE, DGD, True)


def request_counts(cluster: KubeCluster) -> dict[str, float]:
    """``apiserver_request_total`` of the connector's resources, by verb."""
    with cluster.http() as http:
        text = http.get("/metrics").text
    counts: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        if labels.get("resource") in RESOURCES:
            sub = f"/{labels['subresource']}" if labels.get("subresource") else ""
            key = f"{labels.get('verb')} {labels['resource']}{sub}"
            counts[key] = counts.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
    return counts


def show(name: str, values: list[float], unit: str = "ms", scale: float = 1000.0) -> None:
    shown = [v * scale for v in values]
    print(
        f"{name:<28} min {min(shown):8.1f} {unit}   median {statistics.median(shown):8.1f} {unit}   "
        f"max {max(shown):8.1f} {unit}   (n={len(values)})"
    )


async def until(check: Callable[[], bool], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.0005)


async def bench(cluster: KubeCluster, runs: int, idle_s: float) -> None:
    operator = Operator(cluster)
    make_dgd(operator)
    cluster.grant(NAMESPACE)
    graph = graph_for(cluster)
    settings = graph.connector
    connector = KubernetesConnector(graph, settings)  # type: ignore[arg-type]
    started = time.monotonic()
    await connector.initialize()
    print(f"connector opened (resolve + 3 lists + 3 watches) in {(time.monotonic() - started) * 1000:.1f} ms")
    collector = Collector(connector, graph, interval_s=0.25, sources=[])
    snapshots = collector.subscribe()
    collector.start()
    try:
        round_trips = []
        for run in range(runs):
            replicas = 3 + run % 2
            began = time.perf_counter()
            assert await connector.scale_component("worker0", replicas)
            round_trips.append(time.perf_counter() - began)
        show("scale round trip", round_trips)

        to_state, to_snapshot = [], []
        for run in range(runs):
            ready = run % 2  # alternate 0/1 ready of worker1
            while not snapshots.empty():
                snapshots.get_nowait()
            began = time.perf_counter()
            await asyncio.to_thread(operator.set_service_status, NAMESPACE, DGD, "worker1", 2, 2, ready)

            def seen(ready: int = ready) -> bool:
                counts = connector.target.counts("worker1")
                return counts is not None and counts.ready == ready

            await until(seen)
            to_state.append(time.perf_counter() - began)
            seen_at = time.time()
            while (await asyncio.wait_for(snapshots.get(), 10)).timestamp < seen_at:
                pass  # a Snapshot taken before the connector saw the change
            to_snapshot.append(time.perf_counter() - began)
        show("status -> connector state", to_state)
        show("status -> Snapshot (0.25 s)", to_snapshot)

        before = request_counts(cluster)
        began = time.monotonic()
        await asyncio.sleep(idle_s)
        elapsed = time.monotonic() - began
        after = request_counts(cluster)
        delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after if after.get(k, 0.0) != before.get(k, 0.0)}
        total = sum(delta.values())
        print(
            f"idle {elapsed:.0f} s, 8 components, collector every 0.25 s ({collector.ticks} ticks in all): "
            f"{total:.0f} API requests = {total * 60 / elapsed:.2f} per minute {delta or ''}"
        )
        print(f"watches: {[(w.resource.resource, w.lists, w.watches, w.expired) for w in connector.target.watches]}")
    finally:
        await collector.stop()
        await connector.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--idle-s", type=float, default=60.0)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="bench-k8s-") as workdir,
        KubeCluster(ensure_kube_apiserver(), workdir=Path(workdir)) as cluster,
    ):
        print(f"cluster started in {cluster.timings['total']:.1f} s")
        asyncio.run(bench(cluster, args.runs, args.idle_s))


if __name__ == "__main__":
    main()
