"""NVML access through NVIDIA's bindings (module ``pynvml``): GPU discovery, readings, process memory.

This is the only module that imports ``pynvml``. Every function is blocking (NVML calls are
synchronous C calls): call them from a thread (``asyncio.to_thread``), never on the event loop.

Without a driver or library the functions that must answer raise :class:`NvmlUnavailable` with a
reason a person understands; a field a device does not support reads as None ("n/a").

``$PLANNER_TUI_NVML_LIBRARY`` (or :func:`use_library`) loads the NVML library from an explicit path
instead of the system's ``libnvidia-ml.so.1``.
"""

from __future__ import annotations

import ctypes
import dataclasses
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pynvml

from planner_tui.model.gpus import EccErrors, GpuOrigin, GpuProcess, GpuSample, MigDevice

log = logging.getLogger(__name__)

LIBRARY_ENV = "PLANNER_TUI_NVML_LIBRARY"
_MIB = 1024 * 1024
T = TypeVar("T")
# errors saying an entry point or its structure version does not exist in this driver
_NOT_AVAILABLE = (pynvml.NVML_ERROR_FUNCTION_NOT_FOUND, pynvml.NVML_ERROR_ARGUMENT_VERSION_MISMATCH)
# errors saying a device will never answer a query (no fan on a passively cooled GPU, an old driver)
_NOT_SUPPORTED = (pynvml.NVML_ERROR_NOT_SUPPORTED, *_NOT_AVAILABLE)
#: clocks event (throttle) reason bits, as nvidia-smi -q names them
THROTTLE_REASONS: tuple[tuple[int, str], ...] = (
    (0x1, "idle"),
    (0x2, "applications clocks"),
    (0x4, "sw power cap"),
    (0x8, "hw slowdown"),
    (0x10, "sync boost"),
    (0x20, "sw thermal"),
    (0x40, "hw thermal"),
    (0x80, "hw power brake"),
    (0x100, "display clock"),
)


class NvmlUnavailable(Exception):
    """NVML cannot be used here (no driver, no library, no permission). ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class _NvmlState:
    """Process-wide NVML initialisation (NVML itself is process-wide)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.initialized = False
        self.library_path: str | None = None  # set by use_library(); else $PLANNER_TUI_NVML_LIBRARY
        self.loaded_path: str | None = None  # the path pynvml.nvmlLib was loaded from by us
        self.last_failure: str | None = None
        self.memory_v2 = True  # False once the driver turned nvmlDeviceGetMemoryInfo_v2 down
        self.devices: dict[int, _Device] = {}  # what is known of each GPU until NVML is shut down


class _Device:
    """One GPU's handle, its fixed identity, and the queries it answered "not supported"."""

    __slots__ = ("handle", "last_process_sample", "name", "unsupported", "uuid")

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.unsupported: set[str] = set()
        self.last_process_sample = 0  # µs timestamp of the newest process utilisation sample seen
        self.name = _optional(lambda: _text(pynvml.nvmlDeviceGetName(handle)))
        self.uuid = _optional(lambda: _text(pynvml.nvmlDeviceGetUUID(handle)))

    def ask(self, query: str, call: Callable[[], T]) -> T | None:
        """The query's answer; None when not supported (then it is not asked again) or failing."""
        if query in self.unsupported:
            return None
        try:
            return call()
        except (pynvml.NVMLError, pynvml.NVMLLibraryMismatchError) as exc:
            if getattr(exc, "value", None) in _NOT_SUPPORTED:
                self.unsupported.add(query)  # a device does not gain a sensor while it runs
            log.debug("NVML %s not available: %s", query, exc)
            return None


_state = _NvmlState()


def _reason(error: pynvml.NVMLError) -> str:
    value = getattr(error, "value", None)
    if value == pynvml.NVML_ERROR_LIBRARY_NOT_FOUND:
        return "NVML library libnvidia-ml.so.1 not found (is the NVIDIA driver installed?)"
    if value == pynvml.NVML_ERROR_DRIVER_NOT_LOADED:
        return "NVIDIA driver not loaded"
    if value == pynvml.NVML_ERROR_NO_PERMISSION:
        return "no permission to use NVML"
    try:
        text = str(error)
    except Exception:  # the error string itself needs the library
        text = f"NVML error {value}"
    return f"NVML initialisation failed: {text}"


def _swap_library(path: str | None) -> None:
    """Point pynvml at ``path`` (None: the system library on next init). Caller holds the lock."""
    pynvml.nvmlLib = ctypes.CDLL(path) if path else None
    # pynvml caches function pointers by name; they belong to the previous library.
    pynvml._nvmlGetFunctionPointer_cache.clear()
    pynvml._nvmlLib_refcount = 0
    _state.loaded_path = path


def _ensure_initialized() -> None:
    """Initialise NVML once; raise :class:`NvmlUnavailable` (and retry on the next call) if it fails."""
    with _state.lock:
        if _state.initialized:
            return
        path = _state.library_path or os.environ.get(LIBRARY_ENV) or None
        try:
            if path != _state.loaded_path:
                _swap_library(path)
            pynvml.nvmlInit()
        except OSError as exc:
            _swap_library(None)
            raise _unavailable(f"cannot load NVML library {path}: {exc}") from None
        except pynvml.NVMLError as exc:
            raise _unavailable(_reason(exc)) from None
        _state.initialized = True
        _state.last_failure = None
        _state.memory_v2 = True


def _unavailable(reason: str) -> NvmlUnavailable:
    if reason != _state.last_failure:  # log a failure once, not every tick
        log.info("no NVIDIA GPU: %s", reason)
        _state.last_failure = reason
    return NvmlUnavailable(reason)


def use_library(path: str | os.PathLike[str] | None) -> None:
    """Use the NVML library at ``path`` from now on (None: back to the system's library).

    Shuts NVML down first if it was initialised, so the next call initialises the new library.
    """
    with _state.lock:
        _shutdown_locked()
        _state.library_path = str(Path(path)) if path is not None else None
        _swap_library(None)


def shutdown() -> None:
    """Release NVML (it is initialised again on the next call)."""
    with _state.lock:
        _shutdown_locked()


def _shutdown_locked() -> None:
    if _state.initialized:
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError as exc:
            log.debug("nvmlShutdown failed: %s", exc)
        _state.initialized = False
        _state.devices.clear()  # handles are only valid between init and shutdown


def driver_version() -> str:
    """The NVIDIA driver version. Raises :class:`NvmlUnavailable`."""
    _ensure_initialized()
    return str(pynvml.nvmlSystemGetDriverVersion())


def list_gpu_indices() -> list[int]:
    """Indices of the GPUs NVML sees. Raises :class:`NvmlUnavailable` without a driver or library."""
    _ensure_initialized()
    try:
        return list(range(pynvml.nvmlDeviceGetCount()))
    except pynvml.NVMLError as exc:
        raise _unavailable(f"cannot count GPUs: {exc}") from None


def _optional(call: Callable[[], T]) -> T | None:
    """The call's result, or None when the device or driver does not support it."""
    try:
        return call()
    except (pynvml.NVMLError, pynvml.NVMLLibraryMismatchError) as exc:
        log.debug("NVML field not available: %s", exc)
        return None


_PROCESS_QUERIES = (
    # newest first; an older driver lacks the _v3 entry points
    ("nvmlDeviceGetComputeRunningProcesses_v3", "nvmlDeviceGetComputeRunningProcesses_v2"),
    ("nvmlDeviceGetGraphicsRunningProcesses_v3", "nvmlDeviceGetGraphicsRunningProcesses_v2"),
)


def _list_processes(device: _Device, versions: tuple[str, ...]) -> list[Any] | None:
    for name in versions:
        query = getattr(pynvml, name, None)
        if query is None:
            continue
        listed = device.ask(name, lambda q=query: q(device.handle))  # type: ignore[misc]
        if listed is not None:
            return list(listed)
    return None


def _device_processes(device: _Device, with_utilization: bool = False) -> list[GpuProcess] | None:
    """Compute and graphics processes on one GPU (memory summed per pid), None if not supported.

    ``with_utilization`` also asks each process's SM utilisation since the previous call.
    """
    processes: dict[int, GpuProcess] = {}
    found = False
    for versions in _PROCESS_QUERIES:
        listed = _list_processes(device, versions)
        if listed is None:
            continue
        found = True
        for proc in listed:
            used = None if proc.usedGpuMemory is None else proc.usedGpuMemory / _MIB
            previous = processes.get(int(proc.pid))
            if previous is not None and previous.used_memory_mib is not None and used is not None:
                used += previous.used_memory_mib
            instance = getattr(proc, "gpuInstanceId", None)
            if instance is None or instance >= 0xFFFFFFFF:  # NVML's "not in a MIG instance"
                instance = None
            processes[int(proc.pid)] = GpuProcess(pid=int(proc.pid), used_memory_mib=used, gpu_instance=instance)
    if not found:
        return None
    if with_utilization and processes:
        sm = _process_sm_utilization(device)
        if sm is not None:
            processes = {
                pid: dataclasses.replace(proc, sm_util_pct=sm.get(pid, 0.0)) for pid, proc in processes.items()
            }
    return list(processes.values())


def _process_sm_utilization(device: _Device) -> dict[int, float] | None:
    """pid -> SM utilisation (%) over the samples since the previous call; None when NVML cannot say.

    A process without a sample in that window did not run on the SMs: it reads 0.
    """
    if "process utilization" in device.unsupported:
        return None
    try:
        samples = pynvml.nvmlDeviceGetProcessUtilization(device.handle, device.last_process_sample)
    except (pynvml.NVMLError, pynvml.NVMLLibraryMismatchError) as exc:
        value = getattr(exc, "value", None)
        if value == pynvml.NVML_ERROR_NOT_FOUND:
            return {}  # no sample since the last call: nothing ran on the SMs
        if value in _NOT_SUPPORTED:
            device.unsupported.add("process utilization")
        log.debug("NVML process utilization not available: %s", exc)
        return None
    found: dict[int, float] = {}
    for sample in samples:
        device.last_process_sample = max(device.last_process_sample, int(sample.timeStamp))
        found[int(sample.pid)] = max(found.get(int(sample.pid), 0.0), float(sample.smUtil))
    return found


def process_gpu_memory() -> dict[int, float]:
    """GPU memory held by each process, pid -> MiB summed over GPUs; {} when NVML is unavailable."""
    try:
        indices = list_gpu_indices()
    except NvmlUnavailable:
        return {}
    usage: dict[int, float] = {}
    for index in indices:
        device = _device(index)
        if device is None:
            continue
        for proc in _device_processes(device) or []:
            if proc.used_memory_mib is not None:
                usage[proc.pid] = usage.get(proc.pid, 0.0) + proc.used_memory_mib
    return usage


def _memory(device: _Device) -> Any:
    """Memory figures as nvidia-smi shows them: ``used`` without the driver's reserved memory.

    ``nvmlDeviceGetMemoryInfo_v2`` leaves the reserved memory out of ``used``; the older entry point
    (all an old driver has) counts it in, about 0.5 GiB more on an idle H200.
    """
    handle = device.handle
    if _state.memory_v2:
        try:
            return pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2)
        except pynvml.NVMLError as exc:
            if getattr(exc, "value", None) in _NOT_AVAILABLE:
                _state.memory_v2 = False  # this driver has no v2: stop asking
            log.debug("nvmlDeviceGetMemoryInfo_v2 failed: %s", exc)
    return device.ask("memory", lambda: pynvml.nvmlDeviceGetMemoryInfo(handle))


def _throttle_reasons(device: _Device) -> tuple[str, ...] | None:
    """Why the clocks are held down now (nvmlDeviceGetCurrentClocksEventReasons, or its older name)."""
    handle = device.handle
    mask = None
    for name in ("nvmlDeviceGetCurrentClocksEventReasons", "nvmlDeviceGetCurrentClocksThrottleReasons"):
        query = getattr(pynvml, name, None)
        if query is not None and name not in device.unsupported:
            mask = device.ask(name, lambda q=query: q(handle))  # type: ignore[misc]
            if mask is not None or name not in device.unsupported:
                break  # answered, or failed for another reason than a missing entry point
    if mask is None:
        return None
    return tuple(label for bit, label in THROTTLE_REASONS if mask & bit)


def _ecc(device: _Device) -> EccErrors | None:
    """Corrected and uncorrected ECC errors, volatile and aggregate; None without ECC."""
    handle = device.handle
    counts: list[int | None] = []
    for counter in (pynvml.NVML_VOLATILE_ECC, pynvml.NVML_AGGREGATE_ECC):
        for kind in (pynvml.NVML_MEMORY_ERROR_TYPE_CORRECTED, pynvml.NVML_MEMORY_ERROR_TYPE_UNCORRECTED):
            if "ecc" in device.unsupported:
                return None
            counts.append(device.ask("ecc", lambda k=kind, c=counter: pynvml.nvmlDeviceGetTotalEccErrors(handle, k, c)))  # type: ignore[misc]
    if all(count is None for count in counts):
        return None
    return EccErrors(*counts)


def _mig(device: _Device) -> tuple[bool | None, tuple[MigDevice, ...]]:
    """The GPU's MIG mode (None: not supported) and its MIG devices."""
    handle = device.handle
    mode = device.ask("MIG mode", lambda: pynvml.nvmlDeviceGetMigMode(handle))
    if mode is None:
        return None, ()
    enabled = mode[0] == pynvml.NVML_DEVICE_MIG_ENABLE
    if not enabled:
        return False, ()
    count = device.ask("MIG count", lambda: pynvml.nvmlDeviceGetMaxMigDeviceCount(handle)) or 0
    found: list[MigDevice] = []
    for index in range(count):
        try:
            mig = pynvml.nvmlDeviceGetMigDeviceHandleByIndex(handle, index)
        except pynvml.NVMLError as exc:
            if getattr(exc, "value", None) != pynvml.NVML_ERROR_NOT_FOUND:  # an empty slot: no MIG device
                log.debug("MIG device %d of a GPU cannot be read: %s", index, exc)
            continue
        memory = _optional(lambda m=mig: pynvml.nvmlDeviceGetMemoryInfo(m))  # type: ignore[misc]
        found.append(
            MigDevice(
                index=index,
                name=_optional(lambda m=mig: _text(pynvml.nvmlDeviceGetName(m))),  # type: ignore[misc]
                uuid=_optional(lambda m=mig: _text(pynvml.nvmlDeviceGetUUID(m))),  # type: ignore[misc]
                gpu_instance=_optional(lambda m=mig: int(pynvml.nvmlDeviceGetGpuInstanceId(m))),  # type: ignore[misc]
                memory_used_mib=None if memory is None else memory.used / _MIB,
                memory_total_mib=None if memory is None else memory.total / _MIB,
            )
        )
    return True, tuple(found)


def _text(value: bytes | str) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _device(index: int) -> _Device | None:
    device = _state.devices.get(index)
    if device is None:
        try:
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except pynvml.NVMLError as exc:
            log.warning("GPU %d cannot be read: %s", index, exc)
            return None
        device = _state.devices[index] = _Device(handle)
    return device


def read_gpu(index: int, now: float | None = None) -> GpuSample:
    """One GPU's figures (origin NVML). Unsupported fields are None. Raises :class:`NvmlUnavailable`.

    The handle, name and UUID are read once; a query the device answered "not supported" is not
    asked again (until NVML is initialised anew): each one costs a driver call, tens of µs on a real GPU.
    """
    _ensure_initialized()
    timestamp = time.time() if now is None else now
    device = _device(index)
    if device is None:
        return GpuSample(index=index, origin=GpuOrigin.NVML, timestamp=timestamp)
    handle, ask = device.handle, device.ask
    util = ask("utilization", lambda: pynvml.nvmlDeviceGetUtilizationRates(handle))
    memory = _memory(device)
    temperature = ask("temperature", lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU))
    power_mw = ask("power", lambda: pynvml.nvmlDeviceGetPowerUsage(handle))
    limit_mw = ask("power limit", lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle))
    fan = ask("fan", lambda: pynvml.nvmlDeviceGetFanSpeed(handle))
    sm_clock = ask("SM clock", lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM))
    processes = _device_processes(device, with_utilization=True) or []
    mig_mode, mig_devices = _mig(device)
    return GpuSample(
        index=index,
        origin=GpuOrigin.NVML,
        timestamp=timestamp,
        name=device.name,
        uuid=device.uuid,
        utilization_pct=None if util is None else float(util.gpu),
        memory_used_mib=None if memory is None else memory.used / _MIB,
        memory_total_mib=None if memory is None else memory.total / _MIB,
        temperature_c=None if temperature is None else float(temperature),
        power_w=None if power_mw is None else power_mw / 1000.0,
        power_limit_w=None if limit_mw is None else limit_mw / 1000.0,
        fan_pct=None if fan is None else float(fan),
        sm_clock_mhz=None if sm_clock is None else float(sm_clock),
        processes=tuple(sorted(processes, key=lambda p: p.pid)),
        throttle_reasons=_throttle_reasons(device),
        ecc=_ecc(device),
        mig_mode=mig_mode,
        mig_devices=mig_devices,
    )


def read_gpus(now: float | None = None) -> list[GpuSample]:
    """Every GPU's figures in one batch. Raises :class:`NvmlUnavailable` without a driver or library."""
    timestamp = time.time() if now is None else now
    return [read_gpu(index, timestamp) for index in list_gpu_indices()]
