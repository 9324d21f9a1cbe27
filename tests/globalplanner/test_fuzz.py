"""Fuzzing the service from its own OpenAPI schema (schemathesis): valid-shaped and malformed requests,
with and without a valid token. No input may get a 5xx, and nothing may be scaled by any of them."""

from __future__ import annotations

import collections

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from tests.globalplanner.conftest import desired

EXAMPLES = 150  # per operation and mode: the figures are printed at the end (pytest -s)


def test_no_malformed_or_random_request_gets_a_5xx_or_scales_anything(start_service, tokens, two_graphs) -> None:
    path, made = tokens
    gp = start_service(environment="local", graphs={"a": two_graphs["a"]}, token_file=path, rate_per_s=0)
    gp.viewer_headers = {"Authorization": f"Bearer {made['ops']}"}
    schema = schemathesis.openapi.from_dict(httpx.get(f"{gp.url}/openapi.json").json())
    tried: collections.Counter[str] = collections.Counter()
    failures: list[str] = []

    def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, headers: dict[str, str]) -> None:
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: schemathesis.Case) -> None:
            response = case.call(base_url=gp.url, headers=headers, timeout=30)
            tried[f"{operation.label} {mode.value}"] += 1
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {case.body!r}")

        run()

    for result in schema.get_all_operations():
        operation = result.ok()
        # a GET without parameters has nothing to malform: only the scale request is fuzzed negatively
        modes = [GenerationMode.POSITIVE] + ([GenerationMode.NEGATIVE] if operation.method.upper() == "POST" else [])
        for mode in modes:
            for headers in ({}, {"Authorization": f"Bearer {made['app-a']}"}):
                fuzz(operation, mode, headers)

    print(f"\nfuzzed {sum(tried.values())} requests: {dict(tried)}; failures: {len(failures)}")
    for failure in failures[:20]:
        print("  ", failure)
    assert not failures
    assert sum(tried.values()) >= 2 * EXAMPLES
    assert desired(gp, "a") == {"prefill": 1, "decode": 1}  # nothing was scaled
    answered = collections.Counter(r["http_status"] for r in gp.records())
    print(f"scale_request answers by HTTP status: {dict(sorted(answered.items()))}")
    assert set(answered) <= {200, 401, 403, 413, 422}
