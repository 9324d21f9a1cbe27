"""Simulated GPU gauges with DCGM exporter names, for the GPUs in a replica's ``CUDA_VISIBLE_DEVICES``.

Every sample carries ``simulated="true"``, ``UUID="SIM-GPU-<index>"``, ``modelName="Simulated GPU"`` and
``Hostname="simulated"``, so no reader can mistake them for real GPUs (the metrics area turns them into
``GpuOrigin.SIMULATED``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from prometheus_client.core import GaugeMetricFamily

log = logging.getLogger(__name__)

MEMORY_TOTAL_MIB = 81559.0  # an 80 GB card
WEIGHTS_MIB = 16384.0  # model weights, loaded during the cold start
KV_CACHE_MIB = 49152.0  # memory the KV cache occupies when full
IDLE_POWER_W, MAX_POWER_W = 70.0, 700.0
IDLE_TEMP_C, MAX_TEMP_C = 32.0, 78.0


def visible_gpus(value: str | None) -> tuple[int, ...]:
    """GPU indices from a ``CUDA_VISIBLE_DEVICES`` value (``"0,3"``); entries that are not indices are skipped."""
    indices: list[int] = []
    for part in (value or "").split(","):
        part = part.strip()
        if not part:
            continue
        if part.isdigit():
            indices.append(int(part))
        else:
            log.warning("CUDA_VISIBLE_DEVICES entry %r is not a GPU index; no simulated gauges for it", part)
    return tuple(indices)


@dataclass(frozen=True, slots=True)
class GpuLoad:
    """What the replica is doing to its GPUs: busy fraction, weights loaded, KV cache in use (all 0..1)."""

    busy: float
    weights_loaded: float
    kv_usage: float


def dcgm_families(gpus: tuple[int, ...], load: GpuLoad) -> list[GaugeMetricFamily]:
    """The five DCGM gauges, one sample per GPU (empty list without GPUs)."""
    if not gpus:
        return []
    util = 100.0 * min(1.0, max(0.0, load.busy))
    used = WEIGHTS_MIB * load.weights_loaded + KV_CACHE_MIB * load.kv_usage * load.weights_loaded
    used = min(MEMORY_TOTAL_MIB, used + 512.0)  # the context's own memory
    values = {
        ("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %), simulated"): util,
        ("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB), simulated"): used,
        ("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB), simulated"): MEMORY_TOTAL_MIB - used,
        ("DCGM_FI_DEV_POWER_USAGE", "Power draw (in W), simulated"): IDLE_POWER_W
        + (MAX_POWER_W - IDLE_POWER_W) * util / 100.0,
        ("DCGM_FI_DEV_GPU_TEMP", "GPU temperature (in C), simulated"): IDLE_TEMP_C
        + (MAX_TEMP_C - IDLE_TEMP_C) * util / 100.0,
    }
    names = ["gpu", "UUID", "modelName", "Hostname", "simulated"]
    families = []
    for (name, doc), value in values.items():
        family = GaugeMetricFamily(name, doc, labels=names)
        for index in gpus:
            family.add_metric([str(index), f"SIM-GPU-{index}", "Simulated GPU", "simulated", "true"], round(value, 3))
        families.append(family)
    return families
