"""The sim graph as real processes: metrics a scraper can parse, live load changes, no lost request,
and capacity that a second decode worker really adds."""

from __future__ import annotations

import signal
import statistics
import subprocess
import sys
import threading
import time

import pytest

from tests.sim.conftest import SimGraph, SimProcess, wait_for

DCGM = (
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_GPU_TEMP",
)


def test_metrics_parse_with_real_names_and_simulated_gpu_labels(sim: SimGraph) -> None:
    frontend = sim.start_frontend("--profile", "constant", "--rps", "4")
    prefill = sim.start_worker("prefill", gpus="2")
    decode = sim.start_worker("decode", gpus="3,5")
    wait_for(lambda: sim.stats()["completed"] >= 5, 40, "five completed requests")

    front = frontend.metrics()
    for name in (
        "dynamo_frontend_queued_requests",
        "dynamo_frontend_inflight_requests",
        "dynamo_frontend_requests_total",
        "dynamo_frontend_time_to_first_token_seconds_bucket",
        "dynamo_frontend_inter_token_latency_seconds_count",
        "dynamo_frontend_request_duration_seconds_sum",
        "dynamo_frontend_input_sequence_tokens_count",
        "dynamo_frontend_output_sequence_tokens_count",
    ):
        assert name in front, name
    assert frontend.value("dynamo_frontend_requests_total", status="success") >= 5
    assert frontend.value("dynamo_frontend_time_to_first_token_seconds_count") >= 5
    assert "DCGM_FI_DEV_GPU_UTIL" not in front  # the frontend has no GPU

    for worker, gpus in ((prefill, {"2"}), (decode, {"3", "5"})):
        samples = worker.metrics()
        for name in (
            "vllm:num_requests_running",
            "vllm:num_requests_waiting",
            "vllm:kv_cache_usage_perc",
            "vllm:num_preemptions_total",
            "vllm:e2e_request_latency_seconds_count",
            "dynamo_component_inflight_requests",
            "dynamo_component_requests_total",
        ):
            assert name in samples, (worker.name, name)
        assert 0.0 <= worker.value("vllm:kv_cache_usage_perc") <= 1.0
        for name in DCGM:
            assert {s.labels["gpu"] for s in samples[name]} == gpus
            for sample in samples[name]:
                assert sample.labels == {
                    "gpu": sample.labels["gpu"],
                    "UUID": f"SIM-GPU-{sample.labels['gpu']}",
                    "modelName": "Simulated GPU",
                    "Hostname": "simulated",
                    "simulated": "true",
                }
    assert decode.value("dynamo_component_requests_total") >= 5
    assert decode.value("vllm:inter_token_latency_seconds_count") > 0


def test_health_answers_503_during_cold_start_then_200(sim: SimGraph) -> None:
    sim.start_frontend("--rps", "0")
    worker = sim.start_worker("worker", "--cold-start", "20", ready=False)  # 4 s real at speedup 5
    wait_for(lambda: worker.health() == 503, 20, "the worker to answer 503 while cold")
    assert worker.value("planner_tui_sim_worker_ready") == 0
    assert worker.value("DCGM_FI_DEV_FB_USED") < 16384  # weights still loading
    wait_for(lambda: worker.health() == 200, 30, "the worker to become ready")
    (only,) = sim.stats()["workers"].values()
    assert only["role"] == "worker" and only["name"] == "worker-0"


def rate(sim: SimGraph, window_sim_s: float) -> float:
    """Requests generated per simulated second over a window."""
    first = sim.stats()
    time.sleep(window_sim_s / sim.speedup)
    last = sim.stats()
    return (last["requests_in"] - first["requests_in"]) / (last["sim_time_s"] - first["sim_time_s"])


def test_changing_the_profile_live_changes_the_request_rate(sim: SimGraph) -> None:
    frontend = sim.start_frontend("--profile", "constant", "--rps", "1")
    sim.start_worker("worker")
    low = rate(sim, 20)
    changed = subprocess.run(
        [sys.executable, "-m", "planner_tui", "sim", "load", "--url", frontend.url, "constant", "--rps", "12"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert changed.returncode == 0, changed.stderr
    assert '"rps": 12.0' in changed.stdout
    high = rate(sim, 20)
    assert low < 3 and 8 < high < 16, (low, high)
    assert frontend.value("planner_tui_sim_target_requests_per_second") == 12

    scaled = subprocess.run(
        [sys.executable, "-m", "planner_tui", "sim", "load", "--url", frontend.url, "--scale", "0.25"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert scaled.returncode == 0, scaled.stderr
    assert sim.stats()["target_rps"] == 3

    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "planner_tui",
            "sim",
            "load",
            "--url",
            frontend.url,
            "sine",
            "--min-rps",
            "9",
            "--max-rps",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 2
    assert "'max_rps' (3) must be >= 'min_rps' (9)" in refused.stderr
    assert sim.stats()["target_rps"] == 3  # unchanged


class ConservationWatch:
    """Polls the frontend's stats in a thread and records every violation of the invariant."""

    def __init__(self, sim: SimGraph) -> None:
        self.sim = sim
        self.samples = 0
        self.violations: list[dict[str, object]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            stats = self.sim.stats()
            self.samples += 1
            if not stats["conserved"] or stats["requests_in"] != stats["completed"] + stats["in_flight"]:
                self.violations.append(stats)
            self._stop.wait(0.05)

    def __enter__(self) -> ConservationWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_no_request_is_lost_when_workers_come_and_go_under_load(sim: SimGraph) -> None:
    frontend = sim.start_frontend("--profile", "constant", "--rps", "9", "--isl", "256")
    sim.start_worker("prefill")
    first = sim.start_worker("decode", "--kv-blocks", "512")
    with ConservationWatch(sim) as watch:
        wait_for(lambda: sim.held_by("decode-0") >= 10, 30, "decode-0 to be busy")
        second = sim.start_worker("decode", "--kv-blocks", "512")  # scale up
        wait_for(lambda: sim.held_by("decode-1") > 0, 30, "decode-1 to take work")
        held_by_first = sim.held_by("decode-0")
        assert held_by_first > 0
        assert sim.stop(first) == 0  # scale down under load: SIGTERM, drain, hand back
        assert "decode-0" not in sim.worker_names()
        third = sim.start_worker("decode", "--kv-blocks", "512")
        wait_for(lambda: sim.held_by("decode-2") > 0, 30, "decode-2 to take work")
        third.popen.kill()  # a crash: its lease expires and its requests go back to the queue
        third.popen.wait(10)
        wait_for(lambda: "decode-2" not in sim.worker_names(), 30, "decode-2's lease to expire")
        subprocess.run(
            [sys.executable, "-m", "planner_tui", "sim", "load", "--url", frontend.url, "constant", "--rps", "0"],
            capture_output=True,
            timeout=60,
            check=True,
        )
        final = wait_for(
            lambda: (s := sim.stats())["in_flight"] == 0 and s, 90, "every request to complete on decode-1"
        )
    assert second.popen.poll() is None
    assert watch.samples > 20 and watch.violations == []
    assert final["requests_in"] == final["completed"] > 50
    assert final["failed"] == 0
    assert final["handed_back"] > 0


def window_means(sim: SimGraph, decode: list[SimProcess], window_real_s: float) -> tuple[float, float]:
    """Mean decode backlog (frontend queue + waiting in workers) and mean KV usage per worker over a window."""
    backlog: list[float] = []
    kv: list[float] = []
    deadline = time.monotonic() + window_real_s
    assert sim.frontend is not None
    while time.monotonic() < deadline:
        queued = sim.frontend.value("planner_tui_sim_queue_size", queue="decode")
        waiting = sum(w.value("vllm:num_requests_waiting") for w in decode)
        backlog.append(queued + waiting)
        kv.append(statistics.mean(w.value("vllm:kv_cache_usage_perc") for w in decode))
        time.sleep(0.2)
    return statistics.mean(backlog), statistics.mean(kv)


def test_a_second_decode_worker_lowers_the_decode_queue_and_kv_usage(sim: SimGraph) -> None:
    sim.start_frontend("--profile", "constant", "--rps", "9", "--isl", "256")
    sim.start_worker("prefill")
    one = sim.start_worker("decode", "--kv-blocks", "512")
    wait_for(lambda: one.value("vllm:kv_cache_usage_perc") > 0.85, 40, "one decode worker to saturate")
    backlog_one, kv_one = window_means(sim, [one], 4)
    two = sim.start_worker("decode", "--kv-blocks", "512")
    assert sim.frontend is not None
    wait_for(
        lambda: sim.frontend.value("planner_tui_sim_queue_size", queue="decode") < 3,
        60,  # type: ignore[union-attr]
        "the backlog to drain with two workers",
    )
    time.sleep(10 / sim.speedup)  # let the backlog's long requests finish
    backlog_two, kv_two = window_means(sim, [one, two], 6)
    assert kv_one > 0.85
    assert backlog_two < backlog_one / 2, (backlog_one, backlog_two)
    assert kv_two < kv_one - 0.1, (kv_one, kv_two)
    assert one.value("vllm:num_preemptions_total") > 0


@pytest.mark.parametrize("role", ["prefill", "decode", "worker"])
def test_idle_worker_stops_promptly_on_sigterm(sim: SimGraph, role: str) -> None:
    sim.start_frontend("--rps", "0")
    worker = sim.start_worker(role)
    started = time.monotonic()
    assert sim.stop(worker, signal.SIGTERM) == 0
    assert time.monotonic() - started < 5
    assert role in worker.log.read_text()


def test_a_port_in_use_or_a_bad_frontend_url_is_one_clear_error(sim: SimGraph) -> None:
    frontend = sim.start_frontend("--rps", "0")
    clash = subprocess.run(
        [sys.executable, "-m", "planner_tui", "sim", "frontend", "--port", str(frontend.port)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert clash.returncode == 1
    assert f"cannot listen on 127.0.0.1:{frontend.port}" in clash.stderr and "choose another --port" in clash.stderr
    assert "Traceback" not in clash.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "planner_tui", "sim", "worker", "--role", "decode", "--frontend", "localhost:21080"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert "expected a URL like http://127.0.0.1:21080, got 'localhost:21080'" in bad.stderr
