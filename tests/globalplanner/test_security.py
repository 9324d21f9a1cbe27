"""Authentication, size and rate limits: a refused request scales nothing and is recorded."""

from __future__ import annotations

import os

import httpx
import pytest

from planner_tui.globalplanner.service import GlobalPlanner
from planner_tui.globalplanner.settings import ServiceSettings, SettingsError
from planner_tui.globalplanner.tokens import TokenFileError
from tests.globalplanner.conftest import NS, desired, scale_body


def test_tokens_decide_who_may_scale_and_as_which_namespace(start_service, tokens, two_graphs) -> None:
    path, made = tokens
    gp = start_service(environment="local", graphs=two_graphs, token_file=path)
    gp.viewer_headers = {"Authorization": f"Bearer {made['ops']}"}
    body = scale_body("app-a", "a", decode=2)

    no_token = gp.post(body)
    assert no_token.status_code == 401 and "no bearer token" in no_token.json()["message"]
    assert no_token.headers["WWW-Authenticate"] == "Bearer"
    wrong = gp.post(body, token="x" * 43)
    assert wrong.status_code == 401 and "unknown bearer token" in wrong.json()["message"]
    other = gp.post(body, token=made["app-b"])  # app-b's token claiming to be app-a
    assert other.status_code == 403
    assert other.json()["message"] == "the token is app-b's; it cannot send requests as namespace app-a"
    viewer = gp.post(body, token=made["ops"])
    assert viewer.status_code == 403 and "viewer" in viewer.json()["message"]
    # app-b, as itself, cannot scale app-a's deployment either
    foreign = gp.post(scale_body("app-b", "a", decode=2), token=made["app-b"])
    assert foreign.status_code == 200 and foreign.json()["status"] == "error"
    assert "belongs to namespace app-a" in foreign.json()["message"]
    assert desired(gp, "a") == {"prefill": 1, "decode": 1}  # nothing scaled

    ok = gp.post(body, token=made["app-a"])
    assert ok.status_code == 200, ok.text
    assert ok.json() == {
        "status": "success",
        "message": "Scaled a successfully",
        "current_replicas": {"prefill": 1, "decode": 2},
    }
    assert desired(gp, "a") == {"prefill": 1, "decode": 2}
    statuses = [(r.get("caller"), r["http_status"]) for r in gp.records()]
    assert statuses == [(None, 401), (None, 401), ("app-b", 403), ("ops", 403), ("app-b", 200), ("app-a", 200)]


def test_status_needs_a_viewers_token(start_service, tokens) -> None:
    path, made = tokens
    gp = start_service(no_operation=True, token_file=path)
    assert httpx.get(f"{gp.base}/status").status_code == 401
    assert httpx.get(f"{gp.base}/status", headers={"Authorization": f"Bearer {made['app-a']}"}).status_code == 401
    status = httpx.get(f"{gp.base}/status", headers={"Authorization": f"Bearer {made['ops']}"})
    assert status.status_code == 200 and status.json()["namespace"] == NS
    assert httpx.get(f"{gp.base}/health").status_code == 200  # probes need no token


def test_a_token_file_others_can_read_is_refused(tmp_path, tokens) -> None:
    path, _ = tokens
    os.chmod(path, 0o640)
    with pytest.raises(TokenFileError, match=r"run `chmod 600 .*tokens.toml`"):
        GlobalPlanner(ServiceSettings(namespace=NS, token_file=path, no_operation=True))
    short = tmp_path / "short.toml"
    short.write_text('[namespaces]\napp-a = "abc"\n')
    os.chmod(short, 0o600)
    with pytest.raises(TokenFileError, match=r"namespaces\.app-a: the token is 3 characters; use at least 24"):
        GlobalPlanner(ServiceSettings(namespace=NS, token_file=short, no_operation=True))


def test_listening_beyond_loopback_needs_a_flag_and_tokens(tokens) -> None:
    path, _ = tokens
    with pytest.raises(SettingsError, match="--allow-remote"):
        ServiceSettings(namespace=NS, host="0.0.0.0", no_operation=True).check()
    with pytest.raises(SettingsError, match="--token-file"):
        ServiceSettings(namespace=NS, host="0.0.0.0", allow_remote=True, no_operation=True).check()
    ServiceSettings(namespace=NS, host="0.0.0.0", allow_remote=True, token_file=path, no_operation=True).check()
    ServiceSettings(namespace=NS, host="::1", no_operation=True).check()


def test_a_body_over_the_limit_is_refused_before_it_is_read(start_service) -> None:
    gp = start_service(no_operation=True, max_body_bytes=2048)
    big = scale_body(decode=2) | {"predicted_load": {"num_requests": 1.0}, "pad": "x" * 5000}
    answer = gp.post(big)
    assert answer.status_code == 413 and "over 2048 bytes" in answer.json()["message"]

    def chunks():  # no Content-Length: counted as it streams
        yield b'{"caller_namespace": "'
        for _ in range(100):
            yield b"a" * 100
        yield b'"}'

    streamed = httpx.post(f"{gp.base}/scale_request", content=chunks())
    assert streamed.status_code == 413
    assert [r["http_status"] for r in gp.records()] == [413, 413]


def test_a_caller_over_its_rate_gets_429_with_retry_after(start_service, tokens) -> None:
    path, made = tokens
    gp = start_service(no_operation=True, token_file=path, rate_per_s=0.5, burst=3)
    answers = [gp.post(scale_body("app-a", decode=2), token=made["app-a"]) for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    assert answers[3].headers["Retry-After"] == "2"
    assert "rate limit" in answers[3].json()["message"]
    # another caller has its own bucket
    assert gp.post(scale_body("app-b", decode=2), token=made["app-b"]).status_code == 200


def test_invalid_requests_get_422_naming_the_field(start_service) -> None:
    gp = start_service(no_operation=True)
    missing = gp.post({"caller_namespace": "app-a"})
    assert missing.status_code == 422 and "graph_deployment_name: Field required" in missing.json()["message"]
    negative = gp.post(scale_body(decode=-1))
    assert negative.status_code == 422 and "desired_replicas" in negative.json()["message"]
    assert gp.post(b"{not json").status_code == 422
    bad_key = gp.post(scale_body(decode=1), key="bad key with spaces")
    assert bad_key.status_code == 422 and "Idempotency-Key" in bad_key.json()["message"]
