"""GPU samples, from NVML on this host or from DCGM-named metrics (clusters, the simulated demo)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class GpuOrigin(StrEnum):
    """Where a GPU sample came from. ``SIMULATED`` must be shown as such everywhere."""

    NVML = "nvml"
    DCGM = "dcgm"
    SIMULATED = "simulated"


@dataclass(frozen=True, slots=True)
class GpuProcess:
    """A process holding GPU memory, mapped to a replica name when the pid is one of ours (or one of
    their descendants); ``replica`` None is someone else's process ("other")."""

    pid: int
    used_memory_mib: float | None
    replica: str | None = None
    sm_util_pct: float | None = None  # share of the SM time over the last interval; None: NVML cannot say
    gpu_instance: int | None = None  # the MIG GPU instance it runs in, when the GPU is in MIG mode


@dataclass(frozen=True, slots=True)
class MigDevice:
    """One MIG device (a slice of a GPU in MIG mode)."""

    index: int  # MIG device index within its GPU
    name: str | None = None
    uuid: str | None = None
    gpu_instance: int | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None


@dataclass(frozen=True, slots=True)
class EccErrors:
    """ECC error counts: volatile (since the driver loaded) and aggregate (over the GPU's life)."""

    corrected_volatile: int | None = None
    uncorrected_volatile: int | None = None
    corrected_aggregate: int | None = None
    uncorrected_aggregate: int | None = None

    @property
    def uncorrected(self) -> int:
        """Uncorrected errors since the driver loaded (0 when unknown): any is worth an alert."""
        return self.uncorrected_volatile or 0


@dataclass(frozen=True, slots=True)
class GpuSample:
    """One GPU at one instant. A field the device does not support is None (shown as "n/a")."""

    index: int
    origin: GpuOrigin
    timestamp: float
    name: str | None = None
    uuid: str | None = None
    host: str | None = None
    utilization_pct: float | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None
    power_limit_w: float | None = None
    fan_pct: float | None = None
    sm_clock_mhz: float | None = None
    processes: tuple[GpuProcess, ...] = ()
    holders: tuple[str, ...] = ()  # replica names the connector assigned this GPU to
    #: why the clocks are held down now ("sw power cap", "hw thermal", ...); () none; None unknown
    throttle_reasons: tuple[str, ...] | None = None
    ecc: EccErrors | None = None  # None: the GPU has no ECC (or NVML cannot say)
    mig_mode: bool | None = None  # None: the GPU does not support MIG
    mig_devices: tuple[MigDevice, ...] = ()

    @property
    def simulated(self) -> bool:
        """True for the demo's simulated GPUs."""
        return self.origin is GpuOrigin.SIMULATED

    @property
    def on_node(self) -> bool:
        """True for a cluster node's GPU (DCGM through Prometheus, ``host`` the node): shown per node."""
        return self.origin is GpuOrigin.DCGM and self.host is not None

    @property
    def memory_fraction(self) -> float | None:
        """Used / total memory in 0..1, or None when either is unknown."""
        if self.memory_used_mib is None or not self.memory_total_mib:
            return None
        return self.memory_used_mib / self.memory_total_mib
