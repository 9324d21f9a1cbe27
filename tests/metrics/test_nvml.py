"""NVML through NVIDIA's real bindings (pynvml) over a fake libnvidia-ml.so compiled with gcc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from planner_tui.metrics import nvml
from planner_tui.model import GpuOrigin


def test_lists_the_gpus_the_library_reports(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_GPU_COUNT", "8")
    assert nvml.list_gpu_indices() == [0, 1, 2, 3, 4, 5, 6, 7]
    assert nvml.driver_version() == "999.99-fake"


def test_reads_every_field_of_each_gpu(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_UTIL", "35,70")
    gpus = nvml.read_gpus(now=100.0)
    assert [g.index for g in gpus] == [0, 1]
    second = gpus[1]
    assert second.origin is GpuOrigin.NVML and second.timestamp == 100.0
    assert second.name == "Fake GPU 1" and second.uuid == "GPU-fake-0001"
    assert second.utilization_pct == 70.0
    # used without the driver's reserved 512 MiB, as nvidia-smi shows it (nvmlDeviceGetMemoryInfo_v2)
    assert second.memory_used_mib == 2048.0 - 512.0 and second.memory_total_mib == 81920.0
    assert second.temperature_c == 41.0
    assert second.power_w == 101.0 and second.power_limit_w == 700.0
    assert second.fan_pct == 31.0 and second.sm_clock_mhz == 1410.0
    assert gpus[0].utilization_pct == 35.0


def test_per_process_memory_is_summed_over_gpus(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_PROCESSES", "0:4242:512;1:4242:256;1:777:2048")
    assert nvml.process_gpu_memory() == {4242: 768.0, 777: 2048.0}
    gpu1 = nvml.read_gpu(1)
    assert [(p.pid, p.used_memory_mib) for p in gpu1.processes] == [(777, 2048.0), (4242, 256.0)]


def test_fields_the_device_does_not_support_read_as_none(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_UNSUPPORTED", "fan,power,temperature")
    gpu = nvml.read_gpu(0)
    assert gpu.fan_pct is None and gpu.power_w is None and gpu.power_limit_w is None
    assert gpu.temperature_c is None
    assert gpu.utilization_pct == 10.0 and gpu.memory_used_mib == 512.0  # the rest still reads


def test_a_query_the_device_does_not_support_is_not_asked_again_until_nvml_restarts(
    fake_nvml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NVML_UNSUPPORTED", "fan")
    assert nvml.read_gpu(0).fan_pct is None
    monkeypatch.delenv("FAKE_NVML_UNSUPPORTED")  # the library would answer now: it is not asked
    again = nvml.read_gpu(0)
    assert again.fan_pct is None and again.temperature_c == 40.0 and again.name == "Fake GPU 0"
    nvml.shutdown()  # a new NVML session asks again
    assert nvml.read_gpu(0).fan_pct == 30.0


def test_functions_missing_from_an_old_driver_read_as_none(minimal_nvml_path: Path) -> None:
    nvml.use_library(minimal_nvml_path)
    try:
        gpu = nvml.read_gpu(0)
        assert gpu.name == "Fake GPU 0" and gpu.utilization_pct == 10.0
        assert gpu.fan_pct is None and gpu.power_w is None and gpu.sm_clock_mhz is None
        # no nvmlDeviceGetMemoryInfo_v2: used from the old entry point, reserved memory included
        assert gpu.memory_used_mib == 1024.0 and gpu.memory_total_mib == 81920.0
        assert gpu.processes == ()
        assert nvml.process_gpu_memory() == {}
    finally:
        nvml.use_library(None)


def test_a_missing_library_is_unavailable_with_a_reason(tmp_path: Path) -> None:
    nvml.use_library(tmp_path / "no-such-libnvidia-ml.so.1")
    try:
        with pytest.raises(nvml.NvmlUnavailable, match=r"cannot load NVML library .*no-such-libnvidia-ml"):
            nvml.list_gpu_indices()
        assert nvml.process_gpu_memory() == {}
    finally:
        nvml.use_library(None)


def test_a_driver_that_is_not_loaded_is_unavailable(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_INIT_ERROR", "9")
    nvml.use_library(fake_nvml)
    with pytest.raises(nvml.NvmlUnavailable, match="NVIDIA driver not loaded"):
        nvml.read_gpus()
    monkeypatch.delenv("FAKE_NVML_INIT_ERROR")
    assert nvml.list_gpu_indices() == [0, 1]  # retried on the next call once the driver is back


def _run_probe(env: dict[str, str]) -> dict[str, object]:
    code = (
        "import json\n"
        "from planner_tui.metrics import nvml\n"
        "try:\n"
        "    print(json.dumps({'gpus': nvml.list_gpu_indices(), 'memory': nvml.process_gpu_memory()}))\n"
        "except nvml.NvmlUnavailable as exc:\n"
        "    print(json.dumps({'unavailable': exc.reason}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_the_system_library_is_found_through_ld_library_path(fake_nvml_path: Path) -> None:
    env = {**os.environ, "LD_LIBRARY_PATH": str(fake_nvml_path.parent), "FAKE_NVML_PROCESSES": "0:31:64"}
    env.pop(nvml.LIBRARY_ENV, None)
    assert _run_probe(env) == {"gpus": [0, 1], "memory": {"31": 64.0}}


def test_the_library_path_can_be_set_in_the_environment(fake_nvml_path: Path, tmp_path: Path) -> None:
    env = {**os.environ, nvml.LIBRARY_ENV: str(fake_nvml_path), "FAKE_NVML_GPU_COUNT": "3"}
    assert _run_probe(env)["gpus"] == [0, 1, 2]
    env[nvml.LIBRARY_ENV] = str(tmp_path / "missing.so")
    assert "cannot load NVML library" in str(_run_probe(env)["unavailable"])
