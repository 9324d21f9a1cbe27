"""Values outside a signal's domain (+Inf, NaN, a negative queue, KV usage above 1) are marked invalid,
shown as such, and never acted on: the planner holds the component with a reason naming the value,
and that decision is in the audit log (issue 11, item 11)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from planner_tui.config import GraphConfig
from planner_tui.metrics.endpoints import EndpointSignalSource
from planner_tui.metrics.sources import TickContext
from planner_tui.model import ComponentState, Outcome, Phase, ReplicaState, Signal, SignalValue, Snapshot, Verdict
from planner_tui.planner import EngineConfig, PlannerState, decide
from planner_tui.planner.audit import AuditLog, read_records
from planner_tui.planner.runner import PlannerRunner
from tests.metrics.expositions import frontend_text, worker_text
from tests.metrics.http_fixtures import MetricsServer
from tests.planner.builders import graph_state, make_graph, snapshot
from tests.runtime.recording import RecordingConnector

T0 = 1_000_000.0
INF, NAN = math.inf, math.nan


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (INF, "kv_usage=+Inf (decode-0): not a finite number"),
        (-5.0, "kv_usage=-5 (decode-0): outside 0..1"),
        (NAN, "kv_usage=NaN (decode-0): not a finite number"),
        (1.5, "kv_usage=1.5 (decode-0): outside 0..1"),
    ],
)
def test_invalid_kv_usage_holds_decode_naming_the_value(value: float, shown: str) -> None:
    graph = make_graph()
    snap = snapshot(graph, T0, graph_state(graph, decode=2), {("decode", Signal.KV_USAGE): [value, 0.95]})
    dec = decide(snap, PlannerState(), graph, T0).for_component("decode")
    assert dec is not None
    assert (dec.current, dec.target, dec.verdict) == (2, 2, Verdict.INSUFFICIENT_DATA)
    assert dec.reason == f"decode 2 (hold): invalid input {shown}; not acting on it"
    assert dec.inputs[0].invalid is not None  # the record keeps the value that was refused


def test_a_negative_frontend_queue_does_not_reach_prefill() -> None:
    """The load policy reads prefill's own queue only (issue 13 item 1): the frontend's queue, even
    invalid, is not one of prefill's inputs."""
    graph = make_graph()
    snap = snapshot(
        graph,
        T0,
        graph_state(graph),
        {("prefill", Signal.QUEUE_DEPTH): [9.0]},
        aggregates={("frontend", Signal.QUEUE_DEPTH): -3.0},
    )
    dec = decide(snap, PlannerState(), graph, T0).for_component("prefill")
    assert dec is not None and "frontend" not in dec.reason
    assert {v.component for v in dec.inputs} == {"prefill"}


def test_values_in_the_domain_are_valid_and_the_bounds_are_per_signal() -> None:
    assert SignalValue("d", Signal.QUEUE_DEPTH, 250.0, T0).valid  # counts have no upper bound
    assert SignalValue("d", Signal.KV_USAGE, 1.0, T0).valid and SignalValue("d", Signal.KV_USAGE, 0.0, T0).valid
    assert SignalValue("d", Signal.TTFT_P95, -0.1, T0).invalid == "negative"
    assert (
        SignalValue("d", Signal.REQUEST_RATE, INF, T0, stale=True).marks() == " (invalid: not a finite number) (stale)"
    )


# -- over real scrapes ---------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    metrics = MetricsServer().start()
    yield metrics
    metrics.stop()


def _worker(kv: str) -> str:
    body = worker_text(kv=0.5, waiting=0, running=3, requests=10, ttft_fast=0, ttft_total=0)
    return body.replace(
        'vllm:kv_cache_usage_perc{model_name="m"} 0.5', f'vllm:kv_cache_usage_perc{{model_name="m"}} {kv}'
    )


class ScrapedGraph:
    """The test graph over a recording connector, each replica's metrics served on 127.0.0.1."""

    def __init__(self, server: MetricsServer, graph: GraphConfig) -> None:
        self.server = server
        self.graph = graph
        self.connector = RecordingConnector(graph)
        self.source = EndpointSignalSource(graph.metrics, graph)
        self.latest: Snapshot | None = None
        server.serve("/frontend-0", frontend_text(queued=0, inflight=1, requests=10))
        server.serve(
            "/prefill-0",
            _worker("0.2").replace(
                'vllm:num_requests_waiting{model_name="m"} 0', 'vllm:num_requests_waiting{model_name="m"} 1'
            ),
        )

    def serve_decode(self, kv: str) -> None:
        for i in range(self.connector.counts["decode"]):
            self.server.serve(f"/decode-{i}", _worker(kv))

    def states(self) -> dict[str, ComponentState]:
        return {
            name: ComponentState(
                self.graph.components[name].to_spec(name),
                count,
                tuple(
                    ReplicaState(name, i, Phase.READY, metrics_url=self.server.url(f"/{name}-{i}"))
                    for i in range(count)
                ),
            )
            for name, count in self.connector.counts.items()
        }

    async def collect(self) -> Snapshot:
        now = time.time()
        states = self.states()
        report = await self.source.collect(TickContext(now, self.graph.namespace, states))
        assert not report.errors, report.errors
        self.latest = Snapshot(
            timestamp=now,
            namespace=self.graph.namespace,
            components=states,
            signals=report.signals,
            replica_signals=report.replica_signals,
        )
        return self.latest


@pytest.mark.parametrize(("kv", "reason"), [("+Inf", "kv_usage=+Inf"), ("-5", "kv_usage=-5"), ("NaN", "KV usage")])
async def test_a_scraped_invalid_kv_usage_is_shown_never_acted_on_and_audited(
    server: MetricsServer, tmp_path: Path, kv: str, reason: str
) -> None:
    world = ScrapedGraph(server, make_graph())
    audit = AuditLog(tmp_path / "decisions.jsonl")
    runner = PlannerRunner(world.connector, EngineConfig.of(world.graph), lambda: world.latest, audit=audit)
    errors: list[str] = []
    runner.add_error_listener(errors.append)
    try:
        world.serve_decode(kv)
        for _ in range(2):  # +Inf scaled decode up twice before
            snap = await world.collect()
            shown = snap.replica_signal("decode", "decode-0", Signal.KV_USAGE)
            if kv == "NaN":  # NaN in an exposition is "no value"
                assert shown is None
            else:
                assert shown is not None and shown.invalid is not None  # what the dashboard and status show
                assert snap.signal("decode", Signal.KV_USAGE).invalid is not None  # type: ignore[union-attr]
            decision = await runner.tick()
            assert decision is not None
            dec = decision.for_component("decode")
            assert dec is not None and (dec.current, dec.target, dec.outcome) == (1, 1, Outcome.UNCHANGED)
            assert reason in dec.reason and "(hold)" in dec.reason
        assert world.connector.calls == [] and errors == []
        records = list(read_records(audit.path))  # every hold decision, with the refused value
        assert len(records) == 2
        decode = [c for r in records for c in r["components"] if c["component"] == "decode"]
        assert all(reason in c["reason"] for c in decode)
        if kv != "NaN":
            assert decode[0]["inputs"][0]["value"] == ("+Inf" if kv == "+Inf" else -5.0)
            assert decode[0]["inputs"][0]["invalid"] in ("not a finite number", "outside 0..1")

        world.serve_decode("0.95")  # a valid overload is acted on, and audited
        await world.collect()
        decision = await runner.tick()
        assert decision is not None
        dec = decision.for_component("decode")
        assert dec is not None and (dec.current, dec.target, dec.outcome) == (1, 2, Outcome.APPLIED)
        assert [[(t.component_name, t.desired_replicas) for t in call] for call in world.connector.calls] == [
            [("decode", 2)]
        ]
        last = list(read_records(audit.path))[-1]
        assert last["timestamp"] == decision.timestamp and "decode 1->2" in last["summary"]
    finally:
        await world.source.close()
