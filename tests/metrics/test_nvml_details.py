"""What nvitop users expect of a GPU, read through NVIDIA's real bindings over the fake libnvidia-ml.so:
the name, per-process SM utilisation, MIG devices, throttle reasons and ECC errors, and "n/a" where a
driver or device cannot say."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType

import pytest

from planner_tui.metrics import nvml
from planner_tui.metrics.gpu import NvmlGpuSource
from planner_tui.metrics.sources import TickContext
from planner_tui.model import ComponentSpec, ComponentState, Phase, ReplicaState, Role


def test_the_gpu_name_is_the_drivers(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_NAME", "NVIDIA H100 80GB HBM3 #%d")
    assert [g.name for g in nvml.read_gpus()] == ["NVIDIA H100 80GB HBM3 #0", "NVIDIA H100 80GB HBM3 #1"]


def test_each_process_has_its_sm_utilisation_and_an_idle_one_reads_zero(
    fake_nvml: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NVML_PROCESSES", "0:4242:512:63;0:777:256;1:99:64")
    gpu0, gpu1 = nvml.read_gpus()
    assert [(p.pid, p.used_memory_mib, p.sm_util_pct) for p in gpu0.processes] == [
        (777, 256.0, 0.0),
        (4242, 512.0, 63.0),
    ]
    # no sample at all on GPU 1 since the last call: its process did not run on the SMs
    assert [(p.pid, p.sm_util_pct) for p in gpu1.processes] == [(99, 0.0)]
    assert all(p.gpu_instance is None for p in gpu0.processes)  # not in MIG mode


def test_sm_utilisation_reads_na_where_the_driver_cannot_say(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_PROCESSES", "0:4242:512:63")
    monkeypatch.setenv("FAKE_NVML_UNSUPPORTED", "process_utilization")
    (process,) = nvml.read_gpu(0).processes
    assert process.used_memory_mib == 512.0 and process.sm_util_pct is None


def test_mig_devices_are_listed_under_their_gpu(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_MIG", "1:3")
    gpu0, gpu1 = nvml.read_gpus()
    assert gpu0.mig_mode is None and gpu0.mig_devices == ()  # this GPU does not support MIG
    assert gpu1.mig_mode is True
    assert [(m.index, m.gpu_instance, m.memory_used_mib, m.memory_total_mib) for m in gpu1.mig_devices] == [
        (0, 1, 100.0, 10240.0),
        (1, 2, 200.0, 10240.0),
        (2, 3, 300.0, 10240.0),
    ]
    assert gpu1.mig_devices[2].name == "Fake GPU 1 MIG 1g.10gb" and gpu1.mig_devices[2].uuid == "MIG-fake-0001-2"


def test_throttle_reasons_are_named(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_THROTTLE", "0:0x44;1:0x1")
    gpu0, gpu1 = nvml.read_gpus()
    assert gpu0.throttle_reasons == ("sw power cap", "hw thermal")
    assert gpu1.throttle_reasons == ("idle",)
    monkeypatch.setenv("FAKE_NVML_THROTTLE", "0:0x0")
    assert nvml.read_gpu(0).throttle_reasons == ()  # running at full clocks


def test_ecc_errors_are_counted_volatile_and_aggregate(fake_nvml: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_NVML_ECC", "0:12:2")
    ecc = nvml.read_gpu(0).ecc
    assert ecc is not None
    assert (ecc.corrected_volatile, ecc.uncorrected_volatile) == (12, 2)
    assert (ecc.corrected_aggregate, ecc.uncorrected_aggregate) == (112, 102)
    assert ecc.uncorrected == 2
    monkeypatch.setenv("FAKE_NVML_UNSUPPORTED", "ecc")
    nvml.shutdown()
    assert nvml.read_gpu(0).ecc is None  # a GPU without ECC memory


def test_an_old_driver_reads_throttle_reasons_through_the_old_entry_point(minimal_nvml_path: Path) -> None:
    nvml.use_library(minimal_nvml_path)
    try:
        gpu = nvml.read_gpu(0)
        assert gpu.throttle_reasons == ()  # nvmlDeviceGetCurrentClocksThrottleReasons answered
        assert gpu.ecc is None and gpu.mig_mode is None and gpu.mig_devices == ()
    finally:
        nvml.use_library(None)


@pytest.fixture
def replica_with_a_child() -> Iterator[tuple[int, int]]:
    """A real "replica" process that started a worker child (as an engine does): (replica pid, child pid)."""
    code = (
        "import subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import sys; sys.stdin.read()'], stdin=subprocess.PIPE)\n"
        "print(child.pid, flush=True)\n"
        "sys.stdin.read()\n"
        "child.stdin.close(); child.wait()\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None and parent.stdin is not None
    child_pid = int(parent.stdout.readline())
    yield parent.pid, child_pid
    parent.stdin.close()
    parent.wait(30)
    parent.stdout.close()


async def test_a_replicas_child_process_is_named_after_the_replica_and_others_are_nobodys(
    fake_nvml: Path, monkeypatch: pytest.MonkeyPatch, replica_with_a_child: tuple[int, int]
) -> None:
    replica_pid, child_pid = replica_with_a_child
    stranger = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        monkeypatch.setenv("FAKE_NVML_PROCESSES", f"0:{child_pid}:4096:80;0:{stranger.pid}:1024:5;1:{replica_pid}:512")
        replica = ReplicaState("decode", 0, Phase.READY, pid=replica_pid, gpus=(0,))
        state = ComponentState(
            spec=ComponentSpec(name="decode", role=Role.DECODE), desired_replicas=1, replicas=(replica,)
        )
        context = TickContext(now=1.0, namespace="t", components=MappingProxyType({"decode": state}))
        report = await NvmlGpuSource().collect(context)
        assert report.gpus is not None
        gpu0, gpu1 = report.gpus
        owners = {p.pid: p.replica for p in gpu0.processes}
        assert owners == {child_pid: "decode-0", stranger.pid: None}
        assert gpu1.processes[0].replica == "decode-0"
        # the replica's GPU memory counts its own process and its worker's
        assert report.gpu_memory == {"decode-0": 4096.0 + 512.0}
    finally:
        assert stranger.stdin is not None
        stranger.stdin.close()
        stranger.wait(30)
