"""The kubernetes environment against a real kube-apiserver (tests/k8s): a scale request patches the
DynamoGraphDeployment through the kubernetes connector, cached per k8s_namespace/name."""

from __future__ import annotations

from tests.globalplanner.conftest import scale_body
from tests.k8s.helpers_connector import DGD_NAME, SERVICES, cluster_graph, ready_dgd


def test_a_scale_request_patches_the_dgd_and_reuses_its_connector(
    start_service, kube_cluster, operator, kube_namespace
):
    kube_cluster.grant(kube_namespace)
    ready_dgd(operator, kube_namespace)
    described = cluster_graph(kube_cluster, kube_namespace)
    gp = start_service(environment="kubernetes", graphs={DGD_NAME: described}, max_total_gpus=3)
    body = scale_body("dynamo-llm", DGD_NAME, decode=2) | {"k8s_namespace": kube_namespace}

    answer = gp.post(body).json()
    assert answer["status"] == "success", answer
    assert answer["current_replicas"]["decode"] == 2
    dgd = operator.get_dgd(kube_namespace, DGD_NAME)
    assert dgd["spec"]["services"][SERVICES["decode"]]["replicas"] == 2
    [deployment] = gp.service.registry.deployments
    assert deployment.key == f"{kube_namespace}/{DGD_NAME}"

    # prefill 1 + decode 2 use 3 GPUs: one more is over the budget, and the DGD is left as it is
    over = gp.post(scale_body("dynamo-llm", DGD_NAME, prefill=2) | {"k8s_namespace": kube_namespace}).json()
    assert over["message"] == "GPU budget exceeded: request would use 4 total GPUs, max allowed is 3"
    assert operator.get_dgd(kube_namespace, DGD_NAME)["spec"]["services"][SERVICES["prefill"]]["replicas"] == 1
    assert gp.service.registry.deployments == [deployment]  # one cached connector
