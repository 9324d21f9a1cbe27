"""Scaling real local graphs through the service: GPU budget, a race for the last GPUs, idempotency, blocking."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from planner_tui.config import validate_graph
from planner_tui.globalplanner.deployments import DeploymentBusy
from tests.globalplanner.conftest import desired, scale_body


def test_a_request_over_the_gpu_budget_is_refused_and_changes_nothing(start_service, two_graphs) -> None:
    # both graphs run prefill 1 + decode 1 at one GPU each: 4 GPUs in use
    gp = start_service(environment="local", graphs=two_graphs, max_total_gpus=6)
    assert gp.post(scale_body("app-a", "a", decode=3)).json()["status"] == "success"  # 6 GPUs
    over = gp.post(scale_body("app-b", "b", decode=2)).json()
    assert over == {
        "status": "error",
        "message": "GPU budget exceeded: request would use 7 total GPUs, max allowed is 6",
        "current_replicas": {},
    }
    assert desired(gp, "b") == {"prefill": 1, "decode": 1}
    # giving GPUs back fits: decode a 3 -> 1 and b's request together use 5
    assert gp.post(scale_body("app-a", "a", decode=1)).json()["status"] == "success"
    assert gp.post(scale_body("app-b", "b", decode=2)).json()["current_replicas"] == {"prefill": 1, "decode": 2}
    status = httpx.get(f"{gp.base}/status").json()
    assert status["gpus_used"] == 5 and status["max_total_gpus"] == 6


def test_two_callers_racing_for_the_last_gpu_exactly_one_wins(start_service, two_graphs) -> None:
    gp = start_service(environment="local", graphs=two_graphs, max_total_gpus=5)
    barrier = threading.Barrier(2)
    answers: dict[str, dict[str, Any]] = {}

    def ask(caller: str, deployment: str) -> None:
        barrier.wait()
        answers[caller] = gp.post(scale_body(caller, deployment, decode=2)).json()

    threads = [threading.Thread(target=ask, args=args) for args in (("app-a", "a"), ("app-b", "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(a["status"] for a in answers.values())
    assert statuses == ["error", "success"], answers
    [loser] = [a for a in answers.values() if a["status"] == "error"]
    assert loser["message"].startswith("GPU budget exceeded: request would use 6 total GPUs")
    decodes = desired(gp, "a")["decode"] + desired(gp, "b")["decode"]
    assert decodes == 3  # one of them moved to 2, the other stayed at 1
    assert httpx.get(f"{gp.base}/status").json()["gpus_used"] == 5


def test_a_repeated_request_id_is_not_applied_twice_and_gets_the_first_answer(start_service, two_graphs) -> None:
    gp = start_service(environment="local", graphs={"a": two_graphs["a"]})
    first = gp.post(scale_body("app-a", "a", decode=2), key="req-1")
    assert first.json()["current_replicas"] == {"prefill": 1, "decode": 2}
    assert gp.post(scale_body("app-a", "a", decode=3), key="req-2").json()["current_replicas"]["decode"] == 3

    again = gp.post(scale_body("app-a", "a", decode=2), key="req-1")  # a retry of the first, late
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert desired(gp, "a")["decode"] == 3  # not set back to 2

    reused = gp.post(scale_body("app-a", "a", decode=1), key="req-1")
    assert reused.status_code == 422 and "already used for a different request" in reused.json()["message"]
    assert desired(gp, "a")["decode"] == 3
    replayed = [r for r in gp.records() if r.get("replayed")]
    assert len(replayed) == 1 and replayed[0]["request_id"] == "req-1"


def test_concurrent_repeats_of_one_request_apply_it_once(start_service, two_graphs) -> None:
    gp = start_service(environment="local", graphs={"a": two_graphs["a"]})
    barrier = threading.Barrier(4)
    answers: list[httpx.Response] = []

    def ask() -> None:
        barrier.wait()
        answers.append(gp.post(scale_body("app-a", "a", decode=2), key="same"))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len({a.text for a in answers}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 3
    intents = [r for r in gp.records() if r["status"] == "success" and not r.get("replayed")]
    assert len(intents) == 1


def test_blocking_waits_until_ready_and_answers_scaling_at_its_deadline(start_service, two_graphs, tmp_path) -> None:
    gp = start_service(environment="local", graphs={"a": two_graphs["a"]}, blocking_timeout_s=30)
    body = scale_body("app-a", "a", decode=3) | {"blocking": True}
    assert gp.post(body).json()["status"] == "success"
    deployment = httpx.get(f"{gp.base}/status").json()["deployments"][0]
    assert deployment["components"]["decode"]["ready"] == 3  # answered once all three were ready

    # a decode worker that never becomes ready: the answer at the deadline is "scaling"
    data = two_graphs["b"].model_dump(mode="json", exclude_none=True)
    data["components"]["decode"]["health_url"] = "http://127.0.0.1:{port}/never-ready"
    never = validate_graph(data)
    slow = start_service(environment="local", graphs={"b": never}, blocking_timeout_s=0.5)
    answer = slow.post(scale_body("app-b", "b", decode=2) | {"blocking": True}).json()
    assert answer["status"] == "scaling"
    assert answer["message"] == "default/b still scaling after 0.5 s: decode 0/2 ready"
    assert answer["current_replicas"] == {"prefill": 1, "decode": 2}


def test_unknown_deployments_and_components_are_errors_naming_what_exists(start_service, two_graphs) -> None:
    gp = start_service(environment="local", graphs={"a": two_graphs["a"]})
    unknown = gp.post(scale_body("app-a", "nope", decode=2)).json()
    assert unknown["status"] == "error"
    assert unknown["message"] == (
        "no deployment default/nope here; this Global Planner runs default/a (start it with --graph nope=FILE)"
    )
    body = scale_body("app-a", "a") | {"target_replicas": [{"component_name": "encoder", "desired_replicas": 1}]}
    assert "unknown component 'encoder'; the deployment has decode, prefill" in gp.post(body).json()["message"]
    over = gp.post(scale_body("app-a", "a", decode=9)).json()
    assert over["status"] == "error" and "above max_replicas = 3" in over["message"]
    assert desired(gp, "a") == {"prefill": 1, "decode": 1}


def test_a_second_global_planner_cannot_run_the_same_graph(start_service, two_graphs) -> None:
    first = start_service(environment="local", graphs={"a": two_graphs["a"]})
    with pytest.raises(DeploymentBusy, match=r"graph app-a \(--graph again\) is already run by another Global Planner"):
        start_service(environment="local", graphs={"again": two_graphs["a"]})
    assert first.post(scale_body("app-a", "a", decode=2)).json()["status"] == "success"  # the first is unharmed
