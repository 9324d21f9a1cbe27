"""``planner-tui gpus``: this machine's GPUs once, like ``nvitop -1``: a table, or JSON for scripts.

Each GPU's name, utilisation, memory, temperature, power, throttle reasons, ECC errors and MIG
devices, then its processes: pid, the replica of a local graph it belongs to (the replica's process
or a descendant of it, found through the local state files) or "other", GPU memory and SM
utilisation. Without NVML (no driver, no library) it says why and exits with code 1.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import click

from planner_tui.model.gpus import GpuSample
from planner_tui.model.text import plural

EXIT_NO_NVML = 1


def _mib(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value / 1024:.1f}G" if value >= 1024 else f"{value:.0f}M"


def _figure(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.0f}{unit}"


def local_replica_pids() -> dict[int, str]:
    """pid -> replica name of every live replica of the local graphs on this machine (their state files)."""
    from planner_tui.config.paths import state_dir
    from planner_tui.connectors.errors import ConnectorError
    from planner_tui.connectors.local.processes import is_running
    from planner_tui.connectors.local.state_file import read_state_file

    found: dict[int, str] = {}
    for path in sorted((state_dir() / "local").glob("*.json")):
        try:
            state = read_state_file(path)
        except ConnectorError:  # an unreadable state file: its graph's replicas are just not named
            continue
        if state is None:
            continue
        for record in state.replicas.values():
            if record.pid is not None and is_running(record.pid, record.pid_create_time):
                found[record.pid] = f"{record.component}-{record.index}"
    return found


def read_gpus() -> tuple[str, list[GpuSample]]:
    """The driver version and every GPU, processes named after local replicas. Raises NvmlUnavailable."""
    from planner_tui.metrics import nvml
    from planner_tui.metrics.gpu import ProcessOwners

    samples = nvml.read_gpus()
    driver = nvml.driver_version()
    replica_of_pid = local_replica_pids()
    owners = ProcessOwners().owners({p.pid for g in samples for p in g.processes}, replica_of_pid)
    named = [
        dataclasses.replace(
            gpu, processes=tuple(dataclasses.replace(p, replica=owners.get(p.pid)) for p in gpu.processes)
        )
        for gpu in samples
    ]
    return driver, named


def gpu_table(driver: str, gpus: list[GpuSample]) -> list[str]:
    """The GPUs and their processes as text lines."""
    lines = [f"NVIDIA driver {driver} · {plural(len(gpus), 'GPU')}"]
    lines.append(f"{'GPU':>3}  {'NAME':<24} {'UTIL':>4}  {'MEMORY':>13}  {'TEMP':>4}  {'POWER':>11}  THROTTLE / ECC")
    for gpu in gpus:
        util = _figure(gpu.utilization_pct, "%")
        memory = f"{_mib(gpu.memory_used_mib)}/{_mib(gpu.memory_total_mib)}"
        power = f"{_figure(gpu.power_w, 'W')}/{_figure(gpu.power_limit_w, 'W')}"
        notes = []
        if gpu.throttle_reasons:
            notes.append("throttled: " + ", ".join(gpu.throttle_reasons))
        if gpu.ecc is not None:
            notes.append(f"ECC {gpu.ecc.corrected_volatile or 0} corrected, {gpu.ecc.uncorrected} uncorrected")
        if gpu.mig_mode:
            notes.append(f"MIG: {plural(len(gpu.mig_devices), 'device')}")
        name = (gpu.name or "n/a")[:24]
        temp = _figure(gpu.temperature_c, "C")
        lines.append(f"{gpu.index:>3}  {name:<24} {util:>4}  {memory:>13}  {temp:>4}  {power:>11}  {'; '.join(notes)}")
        for mig in gpu.mig_devices:
            label = f"{gpu.index}.{mig.index}"
            mig_memory = f"{_mib(mig.memory_used_mib)}/{_mib(mig.memory_total_mib)}"
            lines.append(f"{label:>3}  {(mig.name or 'MIG device')[:24]:<24} {'':>4}  {mig_memory:>13}")
    processes = [(gpu.index, p) for gpu in gpus for p in gpu.processes]
    lines.append("")
    if not processes:
        lines.append("No processes on the GPUs.")
        return lines
    lines.append(f"{'GPU':>3}  {'PID':>8}  {'REPLICA':<20} {'GPU MEM':>8}  {'SM':>4}")
    for index, process in processes:
        lines.append(
            f"{index:>3}  {process.pid:>8}  {(process.replica or 'other')[:20]:<20} "
            f"{_mib(process.used_memory_mib):>8}  {_figure(process.sm_util_pct, '%'):>4}"
        )
    return lines


def gpus_json(driver: str, gpus: list[GpuSample]) -> dict[str, Any]:
    """The GPUs as JSON data (``replica`` null for another program's process)."""
    from planner_tui.metrics.snapshot_json import to_data

    return {"driver": driver, "gpus": [to_data(gpu) for gpu in gpus]}


@click.command("gpus")
@click.option("--json", "as_json", is_flag=True, help="print JSON (for scripts) instead of a table")
def gpus(as_json: bool) -> None:
    """This machine's GPUs and their processes, once (like `nvitop -1`)."""
    from planner_tui.metrics import nvml

    try:
        driver, samples = read_gpus()
    except nvml.NvmlUnavailable as exc:
        click.echo(
            f"no NVIDIA GPU: {exc.reason}. Install the NVIDIA driver, or point ${nvml.LIBRARY_ENV} at a "
            "libnvidia-ml.so.1.",
            err=True,
        )
        raise SystemExit(EXIT_NO_NVML) from None
    finally:
        nvml.shutdown()
    if as_json:
        click.echo(json.dumps(gpus_json(driver, samples), indent=2, allow_nan=False))
    else:
        click.echo("\n".join(gpu_table(driver, samples)))
