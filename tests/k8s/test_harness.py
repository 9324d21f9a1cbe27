"""The Kubernetes test harness itself: a real API server that enforces what a real cluster enforces.

If these fail, the connector's tests against the harness prove nothing; each one checks a behaviour the
connector relies on (schema validation, the scale subresource, RBAC, the log proxy, an outage).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
import yaml

from tests.k8s.cluster import REPO_ROOT, ClusterError, KubeCluster
from tests.k8s.kubelet import FakeKubelet
from tests.k8s.operator import DGD_PLURAL, DGDSA_PLURAL, GROUP, VERSION, Operator, adapter_name

kube = pytest.importorskip("kubernetes.client")


def dgd_manifest(name: str = "graph", decode_replicas: int = 1) -> dict[str, Any]:
    """A disaggregated graph as users write it (frontend, prefill and decode workers)."""
    worker = {"componentType": "worker", "resources": {"limits": {"gpu": "1"}}}
    return {
        "apiVersion": "nvidia.com/v1alpha1",
        "kind": "DynamoGraphDeployment",
        "metadata": {"name": name},
        "spec": {
            "backendFramework": "vllm",
            "services": {
                "Frontend": {"componentType": "frontend", "replicas": 1},
                "VllmPrefillWorker": {**worker, "subComponentType": "prefill", "replicas": 1},
                "VllmDecodeWorker": {
                    **worker,
                    "subComponentType": "decode",
                    "replicas": decode_replicas,
                    "scalingAdapter": {"enabled": True},
                    "extraPodSpec": {"mainContainer": {"image": "example/vllm:1", "args": ["--model", "m"]}},
                },
            },
        },
    }


def test_apiserver_serves_v1_20_with_the_dynamo_crds(kube_cluster: KubeCluster) -> None:
    with kube_cluster.http("admin") as http:
        assert http.get("/version").json()["gitVersion"] == "v1.20.2"
        resources = {r["name"]: r for r in http.get(f"/apis/{GROUP}/{VERSION}").json()["resources"]}
    assert resources[DGD_PLURAL]["shortNames"] == ["dgd"]
    assert resources[DGDSA_PLURAL]["shortNames"] == ["dgdsa"]
    assert f"{DGD_PLURAL}/status" in resources
    assert f"{DGD_PLURAL}/scale" not in resources  # the DGD itself has no scale subresource
    assert resources[f"{DGDSA_PLURAL}/scale"]["kind"] == "Scale"


def test_kubeconfig_uses_absolute_paths_and_verifies_the_server(kube_cluster: KubeCluster) -> None:
    config = yaml.safe_load(kube_cluster.kubeconfig("planner").read_text())
    ca = Path(config["clusters"][0]["cluster"]["certificate-authority"])
    assert ca.is_absolute() and ca.exists()
    assert config["clusters"][0]["cluster"]["server"] == kube_cluster.url
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{kube_cluster.url}/version", verify=True)  # the system CAs do not trust the test CA


def test_crd_schema_rejects_what_the_real_crd_rejects(operator: Operator, kube_namespace: str) -> None:
    bad = dgd_manifest("negative", decode_replicas=-1)
    with pytest.raises(kube.ApiException) as rejected:
        operator.create_dgd(kube_namespace, bad)
    assert rejected.value.status == 422
    assert "spec.services.VllmDecodeWorker.replicas" in rejected.value.body

    wrong_backend = dgd_manifest("backend")
    wrong_backend["spec"]["backendFramework"] = "tgi"
    with pytest.raises(kube.ApiException) as rejected:
        operator.create_dgd(kube_namespace, wrong_backend)
    assert rejected.value.status == 422 and "backendFramework" in rejected.value.body

    typo = dgd_manifest("good")
    typo["spec"]["services"]["Frontend"]["replica"] = 5  # not in the schema: pruned, as upstream's CRD does
    operator.create_dgd(kube_namespace, typo)
    with pytest.raises(kube.ApiException) as rejected:
        operator.patch_dgd(kube_namespace, "good", {"spec": {"services": {"VllmDecodeWorker": {"replicas": -1}}}})
    assert rejected.value.status == 422
    stored = operator.get_dgd(kube_namespace, "good")
    assert stored["spec"]["services"]["VllmDecodeWorker"]["replicas"] == 1
    assert "replica" not in stored["spec"]["services"]["Frontend"]
    assert stored["spec"]["services"]["Frontend"].get("scalingAdapter") is None
    assert stored["spec"]["services"]["VllmDecodeWorker"]["scalingAdapter"] == {"enabled": True}


def test_status_is_a_subresource(operator: Operator, kube_namespace: str) -> None:
    operator.create_dgd(kube_namespace, dgd_manifest())
    # a status written through the main resource is dropped, as on any cluster
    operator.patch_dgd(kube_namespace, "graph", {"status": {"state": "successful"}})
    assert "status" not in operator.get_dgd(kube_namespace, "graph")

    operator.set_service_status(kube_namespace, "graph", "VllmDecodeWorker", replicas=2, ready=1)
    dgd = operator.set_dgd_ready(kube_namespace, "graph", False, "decode 1/2 ready")
    status = dgd["status"]
    assert status["services"]["VllmDecodeWorker"] == {
        "componentKind": "Deployment",
        "componentName": "graph-vllmdecodeworker",
        "replicas": 2,
        "updatedReplicas": 2,
        "readyReplicas": 1,
        "availableReplicas": 1,
    }
    assert status["state"] == "pending"
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["message"]) == ("False", "decode 1/2 ready")

    status = operator.set_restart_status(kube_namespace, "graph", "r1", "Restarting", ["VllmDecodeWorker"])["status"]
    assert status["restart"] == {"observedID": "r1", "phase": "Restarting", "inProgress": ["VllmDecodeWorker"]}
    assert status["services"]["VllmDecodeWorker"]["replicas"] == 2  # merge patches keep the rest

    with pytest.raises(kube.ApiException) as rejected:
        operator.set_dgd_state(kube_namespace, "graph", "exploded")
    assert rejected.value.status == 422


def test_adapter_scale_subresource(operator: Operator, kube_cluster: KubeCluster, kube_namespace: str) -> None:
    operator.create_dgd(kube_namespace, dgd_manifest(decode_replicas=2))
    adapter = operator.create_adapter(kube_namespace, "graph", "VllmDecodeWorker")
    name = adapter_name("graph", "VllmDecodeWorker")
    assert adapter["metadata"]["name"] == name == "graph-vllmdecodeworker"
    assert adapter["spec"]["replicas"] == 2 and adapter["status"]["replicas"] == 2

    custom = kube.CustomObjectsApi(kube_cluster.admin_client())
    scale = custom.get_namespaced_custom_object_scale(GROUP, VERSION, kube_namespace, DGDSA_PLURAL, name)
    assert scale["spec"]["replicas"] == 2 and scale["status"]["replicas"] == 2
    assert (
        scale["status"]["selector"]
        == "nvidia.com/dynamo-graph-deployment-name=graph,nvidia.com/dynamo-component=VllmDecodeWorker"
    )

    custom.patch_namespaced_custom_object_scale(
        GROUP, VERSION, kube_namespace, DGDSA_PLURAL, name, {"spec": {"replicas": 3}}
    )
    assert operator.get_adapter(kube_namespace, name)["spec"]["replicas"] == 3
    assert operator.get_dgd(kube_namespace, "graph")["spec"]["services"]["VllmDecodeWorker"]["replicas"] == 2
    assert operator.sync_adapter(kube_namespace, "graph", "VllmDecodeWorker") == 3
    assert operator.get_dgd(kube_namespace, "graph")["spec"]["services"]["VllmDecodeWorker"]["replicas"] == 3

    with pytest.raises(kube.ApiException) as rejected:
        custom.patch_namespaced_custom_object_scale(
            GROUP, VERSION, kube_namespace, DGDSA_PLURAL, name, {"spec": {"replicas": -1}}
        )
    assert rejected.value.status == 422
    with pytest.raises(kube.ApiException) as missing:
        custom.get_namespaced_custom_object_scale(GROUP, VERSION, kube_namespace, DGDSA_PLURAL, "graph-frontend")
    assert missing.value.status == 404


RBAC = """
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: dgd-reader
rules:
  - apiGroups: [nvidia.com]
    resources: [dynamographdeployments]
    verbs: [get, list, patch]
"""


def test_rbac_denies_nobody_and_grants_only_what_the_role_says(
    kube_cluster: KubeCluster, operator: Operator, kube_namespace: str, tmp_path: Path
) -> None:
    operator.create_dgd(kube_namespace, dgd_manifest())
    path = f"/apis/{GROUP}/{VERSION}/namespaces/{kube_namespace}/{DGD_PLURAL}"
    with kube_cluster.http("nobody") as nobody, kube_cluster.http("planner") as planner:
        denied = nobody.get(path)
        assert denied.status_code == 403
        assert 'User "nobody" cannot list resource "dynamographdeployments"' in denied.json()["message"]
        assert planner.get(path).status_code == 403  # nothing granted yet

        rbac = tmp_path / "rbac.yaml"
        rbac.write_text(RBAC)
        assert kube_cluster.grant(kube_namespace, "planner", rbac) == ["dgd-reader"]
        assert [item["metadata"]["name"] for item in planner.get(path).json()["items"]] == ["graph"]
        assert planner.delete(f"{path}/graph").status_code == 403
        assert planner.get(f"/api/v1/namespaces/{kube_namespace}/pods").status_code == 403
        assert planner.get(f"/apis/{GROUP}/{VERSION}/namespaces/default/{DGD_PLURAL}").status_code == 403
        assert nobody.get(path).status_code == 403
    with kube_cluster.http() as anonymous:
        del anonymous.headers["Authorization"]
        assert anonymous.get(path).status_code == 403
        assert anonymous.get("/readyz").status_code == 200  # public, as on real clusters


def test_unknown_token_is_unauthorized(kube_cluster: KubeCluster) -> None:
    with kube_cluster.http() as http:
        http.headers["Authorization"] = "Bearer not-a-token"
        assert http.get("/api/v1/namespaces").status_code == 401


def test_pod_logs_come_from_the_kubelet_through_the_api_server(
    kubelet: FakeKubelet, operator: Operator, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    operator.create_dynamo_pod(kube_namespace, "graph", "VllmDecodeWorker")
    pod = "graph-vllmdecodeworker-0"
    for i in range(5):
        kubelet.write(kube_namespace, pod, f"line {i}")
    core = kube.CoreV1Api(kube_cluster.admin_client())
    assert core.read_namespaced_pod_log(pod, kube_namespace) == "".join(f"line {i}\n" for i in range(5))
    assert core.read_namespaced_pod_log(pod, kube_namespace, tail_lines=2) == "line 3\nline 4\n"
    stamped = core.read_namespaced_pod_log(pod, kube_namespace, tail_lines=1, timestamps=True)
    stamp, text = stamped.rstrip("\n").split(" ", 1)
    assert text == "line 4"
    assert abs(dt.datetime.fromisoformat(stamp[:26] + "+00:00") - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)
    assert core.read_namespaced_pod_log(pod, kube_namespace, limit_bytes=8) == "line 0\nl"
    assert kubelet.requests[-1].startswith(f"/containerLogs/{kube_namespace}/{pod}/main?")
    # the kubelet only talks to clients with a certificate from the cluster CA (the API server)
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"https://127.0.0.1:{kubelet.port}/containerLogs/{kube_namespace}/{pod}/main", verify=False)


def test_pod_log_errors_are_the_kubelets(
    kubelet: FakeKubelet, operator: Operator, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    core = kube.CoreV1Api(kube_cluster.admin_client())
    operator.create_pod(kube_namespace, "crashing", {"app": "x"})
    operator.set_pod_status(kube_namespace, "crashing", waiting_reason="CrashLoopBackOff", restarts=4)
    with pytest.raises(kube.ApiException) as waiting:
        core.read_namespaced_pod_log("crashing", kube_namespace)
    assert waiting.value.status == 400
    message = json.loads(waiting.value.body)["message"]
    assert message == 'container "main" in pod "crashing" is waiting to start: CrashLoopBackOff'
    with pytest.raises(kube.ApiException) as previous:
        core.read_namespaced_pod_log("crashing", kube_namespace, previous=True)
    assert previous.value.status == 400
    kubelet.write(kube_namespace, "crashing", "Traceback: boom", previous=True)
    assert core.read_namespaced_pod_log("crashing", kube_namespace, previous=True) == "Traceback: boom\n"
    with pytest.raises(kube.ApiException) as absent:
        core.read_namespaced_pod_log("no-such-pod", kube_namespace)
    assert absent.value.status == 404


def test_pod_log_follow_streams_new_lines_live(
    kubelet: FakeKubelet, operator: Operator, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    operator.create_pod(kube_namespace, "worker", {"app": "w"})
    operator.set_pod_status(kube_namespace, "worker")
    kubelet.write(kube_namespace, "worker", "before")
    received: queue.Queue[str | None] = queue.Queue()

    def follow() -> None:
        with (
            kube_cluster.http(timeout=30) as http,
            http.stream(
                "GET", f"/api/v1/namespaces/{kube_namespace}/pods/worker/log", params={"follow": "true"}
            ) as answer,
        ):
            for line in answer.iter_lines():
                received.put(line)
        received.put(None)  # the stream ended

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert received.get(timeout=10) == "before"
    for i in range(3):  # each line arrives while the stream is open, before the next is written
        kubelet.write(kube_namespace, "worker", f"live {i}")
        assert received.get(timeout=10) == f"live {i}"
    kubelet.end(kube_namespace, "worker")
    assert received.get(timeout=10) is None
    reader.join(10)
    assert not reader.is_alive()


def _serving_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if "process_request_thread" in thread.name}


def test_a_follower_that_hangs_up_frees_the_kubelet(
    kubelet: FakeKubelet, operator: Operator, kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    operator.create_pod(kube_namespace, "quiet", {"app": "q"})
    operator.set_pod_status(kube_namespace, "quiet")
    kubelet.write(kube_namespace, "quiet", "only line")
    before = _serving_threads()
    with (
        kube_cluster.http(timeout=10) as http,
        http.stream("GET", f"/api/v1/namespaces/{kube_namespace}/pods/quiet/log", params={"follow": "true"}) as answer,
    ):
        assert next(answer.iter_lines()) == "only line"
        serving = _serving_threads() - before  # the kubelet's handler holding the stream open
        assert len(serving) == 1
    handler = serving.pop()
    handler.join(5)
    assert not handler.is_alive()  # the API server hung up on the kubelet; its handler ended


def test_deployment_status_is_written_by_the_test(operator: Operator, kube_namespace: str) -> None:
    operator.create_deployment(kube_namespace, "decode", replicas=2, labels={"app": "decode"})
    status = operator.set_deployment_status(kube_namespace, "decode", ready=1).status
    assert (status.replicas, status.updated_replicas, status.ready_replicas, status.available_replicas) == (2, 2, 1, 1)
    assert status.unavailable_replicas == 1
    assert status.conditions[0].type == "Available" and status.conditions[0].status == "False"


def test_unschedulable_pod(operator: Operator, kube_namespace: str) -> None:
    operator.create_pod(kube_namespace, "pending", {"app": "p"}, node=None)
    pod = operator.set_pod_status(
        kube_namespace, "pending", unschedulable_message="0/1 nodes: Insufficient nvidia.com/gpu."
    )
    assert pod.status.phase == "Pending"
    scheduled = pod.status.conditions[0]
    assert (scheduled.type, scheduled.status, scheduled.reason) == ("PodScheduled", "False", "Unschedulable")


def test_apiserver_outage_keeps_the_data(kube_cluster: KubeCluster, operator: Operator, kube_namespace: str) -> None:
    uid = operator.create_dgd(kube_namespace, dgd_manifest())["metadata"]["uid"]
    port, old_pid = kube_cluster.port, kube_cluster.apiserver_pid
    with kube_cluster.apiserver_down():
        assert kube_cluster.apiserver_pid is None and not psutil.pid_exists(old_pid or -1)
        with pytest.raises(httpx.ConnectError), kube_cluster.http(timeout=2) as http:
            http.get("/readyz")
    assert kube_cluster.port == port and kube_cluster.apiserver_pid not in (None, old_pid)
    assert operator.get_dgd(kube_namespace, "graph")["metadata"]["uid"] == uid


def test_a_failed_start_leaves_nothing_running(tmp_path: Path) -> None:
    fake = tmp_path / "kube-apiserver"
    fake.write_text("#!/bin/sh\necho 'flag provided but not defined' >&2\nexit 3\n")
    fake.chmod(0o755)
    cluster = KubeCluster(fake, workdir=tmp_path / "work")
    children_before = {p.pid for p in psutil.Process().children(recursive=True)}
    with pytest.raises(ClusterError, match=r"(?s)kube-apiserver exited while starting .*flag provided but not defined"):
        cluster.start()
    leftovers = [p for p in psutil.Process().children(recursive=True) if p.pid not in children_before]
    assert [p for p in leftovers if p.status() != psutil.STATUS_ZOMBIE] == []
    assert cluster.etcd_pid is None and cluster.apiserver_pid is None


def test_close_stops_both_processes(kube_apiserver_binary: Path) -> None:
    with KubeCluster(kube_apiserver_binary, crds=[]) as cluster:
        pids = [cluster.etcd_pid, cluster.apiserver_pid]
        workdir = cluster.workdir
        assert all(pid is not None and psutil.pid_exists(pid) for pid in pids)
    assert not any(psutil.pid_exists(pid) for pid in pids if pid is not None)
    assert not workdir.exists()


_CHILD = """
import sys, time
from pathlib import Path
from tests.k8s.cluster import KubeCluster
cluster = KubeCluster(Path(sys.argv[1]), workdir=Path(sys.argv[2]), crds=[]).start()
print(cluster.etcd_pid, cluster.apiserver_pid, flush=True)
time.sleep(600)
"""


def _cluster_process(binary: Path, workdir: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(binary), str(workdir)],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    """The pids still alive (zombies count as gone) after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    alive = pids
    while alive and time.monotonic() < deadline:
        alive = []
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
        time.sleep(0.05)
    return alive


def test_a_killed_test_process_takes_its_servers_along(kube_apiserver_binary: Path, tmp_path: Path) -> None:
    child = _cluster_process(kube_apiserver_binary, tmp_path / "work")
    try:
        assert child.stdout is not None
        pids = [int(pid) for pid in child.stdout.readline().split()]
        assert len(pids) == 2, child.stderr.read() if child.stderr else ""
        child.kill()  # SIGKILL: no Python cleanup runs; PR_SET_PDEATHSIG stops etcd and kube-apiserver
        child.wait(10)
        assert _gone(pids) == []
    finally:
        child.kill()
        child.wait(10)


def test_ctrl_c_while_starting_stops_what_was_started(kube_apiserver_binary: Path, tmp_path: Path) -> None:
    child = _cluster_process(kube_apiserver_binary, tmp_path / "work")
    try:
        parent = psutil.Process(child.pid)
        deadline = time.monotonic() + 30
        servers: list[psutil.Process] = []
        while time.monotonic() < deadline and len(servers) < 2:  # etcd up, kube-apiserver starting
            servers = [p for p in parent.children() if p.name() in ("etcd", "kube-apiserver")]
            time.sleep(0.02)
        assert len(servers) == 2, "the cluster's processes did not start"
        child.send_signal(signal.SIGINT)  # to the Python process only: its own cleanup must stop both
        _, stderr = child.communicate(timeout=30)
        assert "KeyboardInterrupt" in stderr
        assert _gone([p.pid for p in servers], timeout=1.0) == []
    finally:
        child.kill()
        child.wait(10)
