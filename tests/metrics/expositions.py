"""Prometheus texts the metrics tests serve, with the names a Dynamo graph exposes."""

from __future__ import annotations


def worker_text(
    *, kv: float, waiting: float, running: float, requests: float, ttft_fast: float, ttft_total: float, gpu: int = 0
) -> str:
    """A decode worker: vLLM gauges, a request counter, a TTFT histogram, and one simulated GPU."""
    gpu_labels = f'gpu="{gpu}",UUID="SIM-GPU-{gpu}",modelName="Simulated GPU",Hostname="simulated",simulated="true"'
    return f"""\
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{{model_name="m"}} {kv}
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{model_name="m"}} {waiting}
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{model_name="m"}} {running}
# TYPE dynamo_component_requests counter
dynamo_component_requests_total{{dynamo_endpoint="generate"}} {requests}
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{{model_name="m",le="0.1"}} {ttft_fast}
vllm:time_to_first_token_seconds_bucket{{model_name="m",le="1.0"}} {ttft_total}
vllm:time_to_first_token_seconds_bucket{{model_name="m",le="+Inf"}} {ttft_total}
vllm:time_to_first_token_seconds_sum{{model_name="m"}} {ttft_total * 0.2}
vllm:time_to_first_token_seconds_count{{model_name="m"}} {ttft_total}
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{{{gpu_labels}}} 63
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{{{gpu_labels}}} 1000
# TYPE DCGM_FI_DEV_FB_FREE gauge
DCGM_FI_DEV_FB_FREE{{{gpu_labels}}} 79000
"""


def frontend_text(*, queued: float, inflight: float, requests: float) -> str:
    """A Dynamo frontend's gauges and request counter."""
    return f"""\
# TYPE dynamo_frontend_queued_requests gauge
dynamo_frontend_queued_requests{{model="m"}} {queued}
# TYPE dynamo_frontend_inflight_requests gauge
dynamo_frontend_inflight_requests{{model="m"}} {inflight}
# TYPE dynamo_frontend_requests counter
dynamo_frontend_requests_total{{model="m",endpoint="chat",request_type="stream",status="success"}} {requests}
"""
