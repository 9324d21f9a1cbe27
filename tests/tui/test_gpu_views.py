"""The GPU panel and the GPU details view (``G``) on GPUs read through the real NVML bindings over the fake
libnvidia-ml.so: names, processes with the replica they belong to or "other", MIG devices, throttle
reasons and ECC errors."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from types import MappingProxyType

import pytest

from planner_tui.metrics.gpu import NvmlGpuSource
from planner_tui.metrics.sources import TickContext
from planner_tui.model import GpuOrigin, GpuSample, Snapshot
from planner_tui.tui.sample_data import sample_snapshot
from planner_tui.tui.screens.gpu_details_screen import GpuDetailsScreen
from planner_tui.tui.widgets import GpuPanel
from tests.metrics.conftest import fake_nvml, fake_nvml_path  # noqa: F401 - fixtures
from tests.tui.dashboard_fixtures import demo_app, demo_source


async def nvml_snapshot(monkeypatch: pytest.MonkeyPatch) -> Snapshot:
    """The sample graph's Snapshot with GPUs from NVML; this test process is replica decode-0's process."""
    base = sample_snapshot()
    decode = base.components["decode"]
    first = dataclasses.replace(decode.replicas[0], pid=os.getpid())
    components = dict(base.components)
    components["decode"] = dataclasses.replace(decode, replicas=(first, *decode.replicas[1:]))
    monkeypatch.setenv("FAKE_NVML_GPU_COUNT", "3")
    monkeypatch.setenv("FAKE_NVML_NAME", "NVIDIA H100 80GB HBM3")
    monkeypatch.setenv("FAKE_NVML_PROCESSES", f"0:{os.getpid()}:40960:88;2:4000000:2048")
    monkeypatch.setenv("FAKE_NVML_MIG", "2:2")
    monkeypatch.setenv("FAKE_NVML_THROTTLE", "0:0x48")
    monkeypatch.setenv("FAKE_NVML_ECC", "1:7:3")
    context = TickContext(now=base.timestamp, namespace=base.namespace, components=MappingProxyType(components))
    report = await NvmlGpuSource().collect(context)
    assert report.gpus is not None
    return dataclasses.replace(base, components=components, gpus=report.gpus, gpu_status=None)


async def panel_lines(snapshot: Snapshot) -> tuple[str, list[str]]:
    source = demo_source()
    source.set_snapshot(snapshot)
    app = demo_app(source)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        panel = app.main_screen.query_one(GpuPanel)
        return str(panel.border_title), [line.rstrip() for line in str(panel.render()).splitlines()]


async def test_the_panel_shows_mig_devices_and_processes_with_their_replica(
    fake_nvml: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    title, lines = await panel_lines(await nvml_snapshot(monkeypatch))
    assert title == "GPUs · 3 · H100 80GB HBM3"  # one model: named once, without the vendor
    assert [line.split()[0] for line in lines[:5]] == ["0", "1", "2", "└", "└"]
    assert lines[4].split()[:2] == ["└", "MIG"] and "MIG 2.1" in lines[4] and "200M/10.0G" in lines[4]
    rows = [line.split() for line in lines if line.split()[:2] in (["0", str(os.getpid())], ["2", "4000000"])]
    assert rows == [["0", str(os.getpid()), "decode-0", "40.0G", "88%"], ["2", "4000000", "other", "2.0G", "0%"]]


async def test_gpus_of_different_models_are_named_on_their_rows(
    fake_nvml: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    snapshot = await nvml_snapshot(monkeypatch)
    renamed = tuple(dataclasses.replace(g, name=f"NVIDIA L{g.index}") for g in snapshot.gpus)
    title, lines = await panel_lines(dataclasses.replace(snapshot, gpus=renamed))
    assert title == "GPUs · 3"
    assert [line.split()[:2] for line in lines[:2]] == [["0", "L0"], ["1", "L1"]]


async def test_shift_g_opens_the_gpu_details_with_throttle_reasons_and_ecc_errors(
    fake_nvml: Path,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = demo_source()
    source.set_snapshot(await nvml_snapshot(monkeypatch))
    app = demo_app(source)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        await pilot.press("G")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GpuDetailsScreen)
        text = str(screen.text)
        gpu0, gpu1, gpu2 = text.split("\n\n")
        assert gpu0.startswith("GPU 0  NVIDIA H100 80GB HBM3")
        assert "throttling    hw slowdown, hw thermal" in gpu0 and "ECC errors    0 uncorrected" in gpu0
        assert f"{os.getpid():>8}  decode-0" in gpu0 and "88%" in gpu0
        assert "ECC errors    3 uncorrected, 7 corrected since the driver loaded; 103 / 107" in gpu1
        assert "throttling    none" in gpu1
        assert "MIG           enabled, 2 device(s)" in gpu2 and "MIG 2.1 GI 2" in gpu2
        assert "4000000  other" in gpu2
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is app.main_screen


async def test_without_gpus_the_details_say_why() -> None:
    app = demo_app(demo_source(gpus=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("G")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GpuDetailsScreen)
        assert str(screen.text).startswith("No GPU data: ")


async def test_cluster_gpus_are_shown_per_node_with_the_pods_that_hold_them() -> None:
    """On a Kubernetes graph GPUs come from DCGM through Prometheus, named by node: a heading per node
    with the pods holding its GPUs, then its GPUs (two nodes' GPU 0 are two rows, each with its own history)."""
    base = sample_snapshot()

    def dcgm(host: str, index: int, pod: str | None, util: float) -> GpuSample:
        return GpuSample(
            index=index,
            origin=GpuOrigin.DCGM,
            timestamp=base.timestamp,
            name="NVIDIA H100 80GB HBM3",
            host=host,
            utilization_pct=util,
            memory_used_mib=1000,
            memory_total_mib=81000,
            holders=(pod,) if pod else (),
        )

    gpus = (
        dcgm("node-a", 0, "llm-decode-7f9", 88),
        dcgm("node-a", 1, "llm-prefill-2k1", 40),
        dcgm("node-b", 0, None, 0),
    )
    title, lines = await panel_lines(dataclasses.replace(base, gpus=gpus, gpu_status=None))
    assert title == "GPUs · 3 · H100 80GB HBM3"
    assert lines[0].startswith("node node-a · 2 GPUs · pods: llm-decode-7f9, llm-prefill-2k1")
    assert lines[1].split()[0] == "0" and "llm-decode-…" in lines[1] and "88%" in lines[1]
    assert lines[2].split()[0] == "1" and "llm-prefill…" in lines[2]
    assert lines[3].startswith("node node-b · 1 GPU · no pods")
    assert lines[4].split()[0] == "0" and "free" in lines[4] and "0%" in lines[4]
