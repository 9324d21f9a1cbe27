"""GPU samples from DCGM-named metrics: grouping, simulated origin, pod holders."""

from __future__ import annotations

from planner_tui.metrics.dcgm import gpus_from_samples
from planner_tui.metrics.exposition import parse_exposition
from planner_tui.model import GpuOrigin

CLUSTER = """\
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",Hostname="node-a",modelName="NVIDIA H100",pod="decode-7f9",namespace="llm"} 88
DCGM_FI_DEV_FB_USED{gpu="1",UUID="GPU-b",Hostname="node-a",modelName="NVIDIA H100",pod="decode-7f9"} 70000
DCGM_FI_DEV_FB_FREE{gpu="1",UUID="GPU-b",Hostname="node-a",modelName="NVIDIA H100",pod="decode-7f9"} 11000
DCGM_FI_DEV_GPU_TEMP{gpu="1",UUID="GPU-b",Hostname="node-a",modelName="NVIDIA H100"} 61
DCGM_FI_DEV_POWER_USAGE{gpu="1",UUID="GPU-b",Hostname="node-a",modelName="NVIDIA H100"} 512.5
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-c",Hostname="node-b",modelName="NVIDIA H100"} 5
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="SIM-GPU-0",Hostname="simulated",modelName="Simulated GPU",simulated="true"} 40
DCGM_FI_DEV_GPU_UTIL{gpu="all",Hostname="node-a"} 50
vllm:num_requests_waiting 3
"""


def test_gpus_are_grouped_per_host_and_index() -> None:
    gpus = gpus_from_samples(parse_exposition(CLUSTER), 7.0)
    assert [(g.host, g.index) for g in gpus] == [("node-a", 1), ("node-b", 1), ("simulated", 0)]
    a = gpus[0]
    assert a.origin is GpuOrigin.DCGM and a.uuid == "GPU-b" and a.name == "NVIDIA H100" and a.timestamp == 7.0
    assert a.utilization_pct == 88 and a.memory_used_mib == 70000 and a.memory_total_mib == 81000
    assert a.temperature_c == 61 and a.power_w == 512.5 and a.holders == ("decode-7f9",)
    assert a.fan_pct is None and a.power_limit_w is None  # not exported: n/a
    assert gpus[1].memory_total_mib is None  # FB_FREE missing: total unknown, not guessed
    assert gpus[2].origin is GpuOrigin.SIMULATED and gpus[2].simulated


def test_no_dcgm_samples_no_gpus() -> None:
    assert gpus_from_samples(parse_exposition("vllm:num_requests_waiting 3\n"), 1.0) == []
