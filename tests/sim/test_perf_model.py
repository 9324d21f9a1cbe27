"""The performance model: slots, KV blocks, preemption, and step times that grow with the work."""

from __future__ import annotations

import pytest

from planner_tui.sim.perf_model import Engine, EngineRole, PerfParams, Sequence


def seq(request_id: int, isl: int = 64, osl: int = 8, generated: int = 0) -> Sequence:
    return Sequence(request_id, isl, osl, received_at=0.0, generated=generated)


def run_to_completion(engine: Engine, max_steps: int = 10_000) -> tuple[list[Sequence], float]:
    finished: list[Sequence] = []
    now = 0.0
    for _ in range(max_steps):
        duration = engine.begin_step()
        if duration is None:
            return finished, now
        now += duration
        finished.extend(engine.finish_step(now).finished)
        assert 0 <= engine.used_blocks <= engine.params.kv_blocks
        assert engine.used_blocks == sum(s.blocks for s in engine.running)
    raise AssertionError("engine did not finish")


def test_prefill_time_grows_with_input_tokens_and_decode_step_with_batch() -> None:
    p = PerfParams()
    assert p.prefill_time(2048) > p.prefill_time(512) > p.prefill_time(16)
    assert p.decode_step_time(32) > p.decode_step_time(8) > p.decode_step_time(1)


def test_prefill_engine_batches_by_token_budget_and_hands_every_request_on() -> None:
    engine = Engine(EngineRole.PREFILL, PerfParams(max_batch_tokens=1000))
    for i in range(5):
        engine.add(seq(i, isl=400))
    first = engine.begin_step()
    assert engine.num_running == 2 and engine.num_waiting == 3  # 400 + 400 <= 1000 < 1200
    assert first == pytest.approx(engine.params.prefill_time(800))
    result = engine.finish_step(first or 0)
    assert [s.request_id for s in result.first_tokens] == [0, 1] == [s.request_id for s in result.finished]
    assert all(s.generated == 1 for s in result.finished)
    finished, _ = run_to_completion(engine)
    assert [s.request_id for s in finished] == [2, 3, 4]
    assert engine.kv_usage == 0


def test_decode_respects_slots_and_reports_kv_usage() -> None:
    engine = Engine(EngineRole.DECODE, PerfParams(max_num_seqs=3, kv_blocks=100, block_size=16))
    for i in range(5):
        engine.add(seq(i, isl=64, osl=10, generated=1))
    engine.begin_step()
    assert engine.num_running == 3 and engine.num_waiting == 2
    assert engine.used_blocks == 3 * 5  # 64 prompt + 1 generated + 1 next -> 66 tokens -> 5 blocks
    assert engine.kv_usage == pytest.approx(0.15)
    assert engine.inflight == 5


def test_full_kv_cache_preempts_and_every_request_still_finishes() -> None:
    engine = Engine(EngineRole.DECODE, PerfParams(max_num_seqs=64, kv_blocks=40, block_size=16))
    for i in range(8):
        engine.add(seq(i, isl=100, osl=120, generated=1))
    finished, _ = run_to_completion(engine)
    assert sorted(s.request_id for s in finished) == list(range(8))
    assert all(s.generated == s.output_tokens and s.error is None for s in finished)
    assert engine.preemptions_total > 0
    assert engine.idle and engine.used_blocks == 0


def test_a_bigger_batch_makes_each_token_slower() -> None:
    def mean_itl(n: int) -> float:
        engine = Engine(EngineRole.DECODE)
        for i in range(n):
            engine.add(seq(i, isl=64, osl=50, generated=1))
        finished, _ = run_to_completion(engine)
        return sum(s.itl_sum for s in finished) / sum(s.itl_count for s in finished)

    assert mean_itl(32) > mean_itl(4) > 0


def test_aggregated_worker_produces_first_token_then_decodes() -> None:
    engine = Engine(EngineRole.WORKER)
    engine.add(seq(1, isl=1000, osl=5))
    first = engine.begin_step()
    assert first == pytest.approx(engine.params.decode_step_time(1) + engine.params.prefill_per_token_s * 1000)
    result = engine.finish_step(1.0)
    assert [s.request_id for s in result.first_tokens] == [1] and not result.finished
    finished, _ = run_to_completion(engine)
    assert finished[0].generated == 5 and finished[0].itl_count == 4


def test_request_larger_than_the_cache_fails_instead_of_blocking() -> None:
    engine = Engine(EngineRole.DECODE, PerfParams(kv_blocks=4, block_size=16))
    engine.add(seq(1, isl=200, osl=10, generated=1))
    engine.add(seq(2, isl=10, osl=5, generated=1))
    finished, _ = run_to_completion(engine)
    assert [s.request_id for s in finished] == [2]
    failed = engine.take_failed()
    assert [s.request_id for s in failed] == [1] and "exceeds the KV cache" in (failed[0].error or "")


def test_take_all_frees_the_cache_and_returns_every_request() -> None:
    engine = Engine(EngineRole.DECODE)
    for i in range(6):
        engine.add(seq(i, generated=1))
    engine.begin_step()
    taken = engine.take_all()
    assert sorted(s.request_id for s in taken) == list(range(6))
    assert engine.idle and engine.used_blocks == 0 and not engine.stepping
    assert engine.begin_step() is None


def test_wants_keeps_a_prefetch_of_waiting_requests() -> None:
    engine = Engine(EngineRole.DECODE, PerfParams(prefetch=3))
    assert engine.wants() == 3
    engine.add(seq(1, generated=1))
    assert engine.wants() == 2


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="kv_blocks must be >= 1"):
        PerfParams(kv_blocks=0)
