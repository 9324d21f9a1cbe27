"""GPU samples from DCGM-named metrics (NVIDIA's dcgm-exporter in clusters, the demo's simulated GPUs).

Samples are grouped per (``Hostname``, ``gpu``) label pair. Any sample labelled ``simulated="true"``
makes its GPU :attr:`GpuOrigin.SIMULATED`, so simulated GPUs stay marked as such end to end.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from planner_tui.metrics.scrape import Sample
from planner_tui.model.gpus import GpuOrigin, GpuSample

# DCGM field -> GpuSample attribute (FB_FREE is turned into the total with FB_USED)
DCGM_FIELDS: dict[str, str] = {
    "DCGM_FI_DEV_GPU_UTIL": "utilization_pct",
    "DCGM_FI_DEV_FB_USED": "memory_used_mib",
    "DCGM_FI_DEV_FB_FREE": "memory_free_mib",
    "DCGM_FI_DEV_GPU_TEMP": "temperature_c",
    "DCGM_FI_DEV_POWER_USAGE": "power_w",
    "DCGM_FI_DEV_POWER_MGMT_LIMIT": "power_limit_w",
    "DCGM_FI_DEV_SM_CLOCK": "sm_clock_mhz",
    "DCGM_FI_DEV_FAN_SPEED": "fan_pct",
}


def gpus_from_samples(samples: Iterable[Sample], timestamp: float) -> list[GpuSample]:
    """GPU samples from DCGM-named samples (others are ignored), sorted by host and index."""
    fields: dict[tuple[str, int], dict[str, float]] = {}
    labels: dict[tuple[str, int], Mapping[str, str]] = {}
    simulated: set[tuple[str, int]] = set()
    for name, sample_labels, value in samples:
        attribute = DCGM_FIELDS.get(name)
        if attribute is None:
            continue
        try:
            index = int(sample_labels.get("gpu", ""))
        except ValueError:
            continue
        key = (sample_labels.get("Hostname", ""), index)
        values = fields.get(key)
        if values is None:
            values = fields[key] = {}
            labels[key] = sample_labels
        values[attribute] = value
        if sample_labels.get("simulated") == "true":
            simulated.add(key)
    out: list[GpuSample] = []
    for key in sorted(fields):
        values, meta = fields[key], labels[key]
        used, free = values.get("memory_used_mib"), values.get("memory_free_mib")
        pod = meta.get("pod")
        out.append(
            GpuSample(
                index=key[1],
                origin=GpuOrigin.SIMULATED if key in simulated else GpuOrigin.DCGM,
                timestamp=timestamp,
                name=meta.get("modelName"),
                uuid=meta.get("UUID"),
                host=key[0] or None,
                utilization_pct=values.get("utilization_pct"),
                memory_used_mib=used,
                memory_total_mib=None if used is None or free is None else used + free,
                temperature_c=values.get("temperature_c"),
                power_w=values.get("power_w"),
                power_limit_w=values.get("power_limit_w"),
                fan_pct=values.get("fan_pct"),
                sm_clock_mhz=values.get("sm_clock_mhz"),
                holders=(pod,) if pod else (),
            )
        )
    return out
