"""``planner-tui gpus``: this machine's GPUs once (like ``nvitop -1``), as a table or JSON, over the fake
NVML library through the real bindings; a clear message and exit code 1 without NVML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from planner_tui.config.paths import STATE_DIR_ENV
from planner_tui.connectors.local.state_file import NamespaceState, ReplicaRecord, StateStore
from planner_tui.metrics import nvml
from tests.metrics.conftest import FAKE_NVML_VARIABLES, build_fake_nvml


@pytest.fixture(scope="module")
def fake_library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_fake_nvml(tmp_path_factory.mktemp("gpus-cmd-nvml"))


def run_gpus(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner_tui", "gpus", *args], env=env, capture_output=True, text=True, timeout=60
    )


def base_env(library: Path, state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in FAKE_NVML_VARIABLES}
    env.update({nvml.LIBRARY_ENV: str(library), STATE_DIR_ENV: str(state)})
    return env


def record_replica(state: Path, pid: int) -> None:
    """A local graph's state file naming ``pid`` as replica decode-1 (as the local connector writes it)."""
    replica = ReplicaRecord(
        component="decode", index=1, gpus=[0], pid=pid, pid_create_time=psutil.Process(pid).create_time()
    )
    store = StateStore("gpusns", state)
    store.ensure_dirs()
    store.write(NamespaceState(namespace="gpusns", graph={}, replicas={"gpusns_decode_1": replica}))


def test_the_table_shows_names_processes_with_their_replica_mig_throttling_and_ecc(
    fake_library: Path, tmp_path: Path, replica_process: subprocess.Popen[bytes]
) -> None:
    record_replica(tmp_path, replica_process.pid)
    env = base_env(fake_library, tmp_path) | {
        "FAKE_NVML_NAME": "NVIDIA H200 #%d",
        "FAKE_NVML_PROCESSES": f"0:{replica_process.pid}:4096:71;1:4000000:300",
        "FAKE_NVML_MIG": "1:2",
        "FAKE_NVML_THROTTLE": "0:0x20",
        "FAKE_NVML_ECC": "0:5:1",
    }
    result = run_gpus(env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "NVIDIA driver 999.99-fake · 2 GPUs"
    gpu0 = next(line for line in lines if "NVIDIA H200 #0" in line)
    assert "10%" in gpu0 and "512M/80.0G" in gpu0 and "40C" in gpu0 and "100W/700W" in gpu0
    assert "throttled: sw thermal" in gpu0 and "ECC 5 corrected, 1 uncorrected" in gpu0
    assert "MIG: 2 devices" in next(line for line in lines if "NVIDIA H200 #1" in line)
    assert any(line.startswith("1.1  Fake GPU 1 MIG 1g.10gb") and "200M/10.0G" in line for line in lines)
    rows = {
        line.split()[1]: line.split() for line in lines if line.split()[:1] in (["0"], ["1"]) and len(line.split()) == 5
    }
    assert rows[str(replica_process.pid)] == ["0", str(replica_process.pid), "decode-1", "4.0G", "71%"]
    assert rows["4000000"] == ["1", "4000000", "other", "300M", "0%"]


def test_json_carries_every_field_for_scripts(
    fake_library: Path, tmp_path: Path, replica_process: subprocess.Popen[bytes]
) -> None:
    record_replica(tmp_path, replica_process.pid)
    env = base_env(fake_library, tmp_path) | {
        "FAKE_NVML_GPU_COUNT": "3",
        "FAKE_NVML_PROCESSES": f"2:{replica_process.pid}:100:9",
        "FAKE_NVML_ECC": "2:0:3",
    }
    result = run_gpus(env, "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["driver"] == "999.99-fake"
    assert [g["index"] for g in data["gpus"]] == [0, 1, 2]
    gpu2 = data["gpus"][2]
    assert gpu2["name"] == "Fake GPU 2" and gpu2["memory_total_mib"] == 81920.0 and gpu2["simulated"] is False
    assert gpu2["processes"] == [
        {
            "pid": replica_process.pid,
            "used_memory_mib": 100.0,
            "replica": "decode-1",
            "sm_util_pct": 9.0,
            "gpu_instance": None,
        }
    ]
    assert gpu2["ecc"]["uncorrected_volatile"] == 3 and gpu2["throttle_reasons"] == []


def test_without_nvml_it_says_why_and_exits_non_zero(tmp_path: Path, fake_library: Path) -> None:
    env = base_env(tmp_path / "no-libnvidia-ml.so.1", tmp_path)
    result = run_gpus(env)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "no NVIDIA GPU: cannot load NVML library" in result.stderr and "no-libnvidia-ml.so.1" in result.stderr
    assert "Traceback" not in result.stderr
    env = base_env(fake_library, tmp_path) | {"FAKE_NVML_INIT_ERROR": "9"}
    result = run_gpus(env, "--json")
    assert result.returncode == 1 and "NVIDIA driver not loaded" in result.stderr and result.stdout == ""
