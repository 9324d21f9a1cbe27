"""The seed's behaviours one by one, over real HTTP on loopback: health, allowlist, no-operation, OpenAPI."""

from __future__ import annotations

import httpx

from tests.globalplanner.conftest import NS, scale_body


def test_health_has_the_seeds_shape(start_service) -> None:
    gp = start_service(no_operation=True)
    assert httpx.get(f"{gp.base}/health").json() == {
        "status": "healthy",
        "component": "GlobalPlanner",
        "namespace": NS,
        "managed_namespaces": "all",
    }
    gp2 = start_service(no_operation=True, managed_namespaces=frozenset({"app-b", "app-a"}))
    assert httpx.get(f"{gp2.base}/health").json()["managed_namespaces"] == ["app-a", "app-b"]


def test_endpoints_live_under_the_services_namespace_only(start_service) -> None:
    gp = start_service(no_operation=True)
    assert httpx.get(f"{gp.url}/other-ns/GlobalPlanner/health").status_code == 404
    assert httpx.post(f"{gp.url}/other-ns/GlobalPlanner/scale_request", json=scale_body()).status_code == 404


def test_no_operation_answers_success_with_empty_replicas_and_logs_the_request(start_service) -> None:
    gp = start_service(no_operation=True)
    answer = gp.post(scale_body("app-a", "demo", decode=3, prefill=2))
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "success" and body["current_replicas"] == {}
    assert "no-operation" in body["message"]
    [record] = gp.records()
    assert record["caller"] == "app-a" and record["status"] == "success"
    assert record["request"]["target_replicas"][0] == {
        "sub_component_type": "decode",
        "component_name": None,
        "desired_replicas": 3,
    }
    assert "app-a -> default/demo decode=3 prefill=2 | success" in record["summary"]


def test_an_unlisted_namespace_gets_error_not_authorized(start_service) -> None:
    gp = start_service(no_operation=True, managed_namespaces=frozenset({"app-a"}))
    refused = gp.post(scale_body("intruder", decode=2)).json()
    assert refused == {"status": "error", "message": "Namespace intruder not authorized", "current_replicas": {}}
    assert gp.post(scale_body("app-a", decode=2)).json()["status"] == "success"
    assert [r["status"] for r in gp.records()] == ["error", "success"]


def test_openapi_describes_the_contract(start_service) -> None:
    gp = start_service(no_operation=True)
    schema = httpx.get(f"{gp.url}/openapi.json").json()
    scale = schema["paths"][f"/{NS}/GlobalPlanner/scale_request"]["post"]
    assert scale["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ScaleRequest"
    }
    models = schema["components"]["schemas"]
    assert set(models["ScaleRequest"]["properties"]) == {
        "caller_namespace",
        "graph_deployment_name",
        "k8s_namespace",
        "target_replicas",
        "blocking",
        "timestamp",
        "predicted_load",
    }
    assert models["ScaleResponse"]["properties"]["status"]["enum"] == ["success", "error", "scaling"]
    assert {"401", "403", "413", "422", "429"} <= set(scale["responses"])
