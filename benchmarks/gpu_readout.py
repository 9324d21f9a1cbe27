"""Read this machine's GPUs through the NVML GPU source, as the collector does, and print everything.

    python benchmarks/gpu_readout.py [--load-gib N] [--load-seconds S] [--rounds N]

For checking the GPU source on a real NVIDIA GPU. With ``--load-gib`` (needs PyTorch) a child process
takes N GiB on GPU 0 and keeps it busy with matrix products; it is presented to the source as replica
``decode-0`` holding GPU 0, so the output shows whether utilisation moves and whether the per-process
memory is attributed to that replica by pid. Ends with the NVML batch time per GPU.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import MappingProxyType

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from planner_tui.metrics import nvml  # noqa: E402
from planner_tui.metrics.gpu import NvmlGpuSource  # noqa: E402
from planner_tui.metrics.sources import TickContext  # noqa: E402
from planner_tui.model import ComponentSpec, ComponentState, GpuSample, Phase, ReplicaState  # noqa: E402

LOAD = """
import sys, time, torch
gib, seconds = float(sys.argv[1]), float(sys.argv[2])
hold = torch.empty(int(gib * 2**30), dtype=torch.uint8, device="cuda:0")
a = torch.randn(8192, 8192, device="cuda:0", dtype=torch.bfloat16)
print("ready", flush=True)
end = time.time() + seconds
while time.time() < end:
    for _ in range(20):
        a @ a
    torch.cuda.synchronize()
"""


def show(value: object, unit: str = "") -> str:
    """A field as printed: "n/a" where the device did not support it."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.1f}{unit}"
    return f"{value}{unit}"


def print_gpu(gpu: GpuSample) -> None:
    print(f"GPU {gpu.index}: {show(gpu.name)} {show(gpu.uuid)}")
    print(
        f"  util {show(gpu.utilization_pct, '%')}  memory {show(gpu.memory_used_mib)}/{show(gpu.memory_total_mib)} MiB"
        f"  temp {show(gpu.temperature_c, ' C')}  power {show(gpu.power_w, ' W')}/{show(gpu.power_limit_w, ' W')}"
        f"  fan {show(gpu.fan_pct, '%')}  SM clock {show(gpu.sm_clock_mhz, ' MHz')}  holders {list(gpu.holders)}"
    )
    for process in gpu.processes:
        print(f"  process pid {process.pid}: {show(process.used_memory_mib)} MiB, replica {show(process.replica)}")


def context_for(pid: int | None) -> TickContext:
    """The graph the source is told about: one decode replica on GPU 0 when a load process runs."""
    replicas = () if pid is None else (ReplicaState("decode", 0, Phase.READY, pid=pid, gpus=(0,)),)
    spec = ComponentSpec(name="decode", role="decode")
    state = ComponentState(spec=spec, desired_replicas=len(replicas), replicas=replicas)
    return TickContext(now=time.time(), namespace="readout", components=MappingProxyType({"decode": state}))


async def read(source: NvmlGpuSource, pid: int | None) -> None:
    report = await source.collect(context_for(pid))
    if report.gpu_status:
        print(report.gpu_status)
    for gpu in report.gpus or ():
        print_gpu(gpu)
    print(f"GPU memory per replica: {dict(report.gpu_memory)}")


def cross_check() -> None:
    """What nvidia-smi reads at the same moment, where it is installed."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return
    fields = "index,utilization.gpu,memory.used,temperature.gpu,power.draw,clocks.sm"
    for query in (f"--query-gpu={fields}", "--query-compute-apps=pid,used_memory"):
        result = subprocess.run([smi, query, "--format=csv"], capture_output=True, text=True, timeout=30)
        print(f"nvidia-smi {query}:\n{result.stdout.strip() or result.stderr.strip()}")


def time_queries(rounds: int) -> None:
    """Microseconds per NVML query on GPU 0, as the source asks them (which ones are dear here)."""
    import pynvml

    handle = pynvml.nvmlDeviceGetHandleByIndex(0)
    queries = {
        "handle by index": lambda: pynvml.nvmlDeviceGetHandleByIndex(0),
        "name": lambda: pynvml.nvmlDeviceGetName(handle),
        "UUID": lambda: pynvml.nvmlDeviceGetUUID(handle),
        "utilization": lambda: pynvml.nvmlDeviceGetUtilizationRates(handle),
        "memory v2": lambda: pynvml.nvmlDeviceGetMemoryInfo(handle, version=pynvml.nvmlMemory_v2),
        "temperature": lambda: pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
        "power": lambda: pynvml.nvmlDeviceGetPowerUsage(handle),
        "power limit": lambda: pynvml.nvmlDeviceGetEnforcedPowerLimit(handle),
        "fan": lambda: pynvml.nvmlDeviceGetFanSpeed(handle),
        "SM clock": lambda: pynvml.nvmlDeviceGetClockInfo(handle, pynvml.NVML_CLOCK_SM),
        "compute processes": lambda: pynvml.nvmlDeviceGetComputeRunningProcesses_v3(handle),
        "graphics processes": lambda: pynvml.nvmlDeviceGetGraphicsRunningProcesses_v3(handle),
    }
    for name, query in queries.items():
        start = time.perf_counter()
        outcome = "ok"
        for _ in range(rounds):
            try:
                query()
            except pynvml.NVMLError as exc:
                outcome = str(exc)
        print(f"  {name}: {(time.perf_counter() - start) / rounds * 1e6:.0f} us ({outcome})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--load-gib", type=float, default=0.0, help="GiB a PyTorch child process takes on GPU 0")
    parser.add_argument("--load-seconds", type=float, default=15.0)
    parser.add_argument("--rounds", type=int, default=200, help="NVML batches timed")
    parser.add_argument("--library", help="an NVML library to load instead of the system's (a test library)")
    args = parser.parse_args()
    if args.library:
        nvml.use_library(args.library)
    source = NvmlGpuSource()
    try:
        indices = nvml.list_gpu_indices()
        print(f"driver {nvml.driver_version()}, {len(indices)} GPU(s)")
    except nvml.NvmlUnavailable as exc:
        print(f"no NVIDIA GPU: {exc.reason}")
        indices = []
    print("-- idle")
    asyncio.run(read(source, None))
    if args.load_gib > 0:
        load = subprocess.Popen(
            [sys.executable, "-c", LOAD, str(args.load_gib), str(args.load_seconds)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert load.stdout is not None
            if load.stdout.readline().strip() != "ready":
                raise SystemExit(f"the load process ended early (exit {load.wait()})")
            time.sleep(2.0)  # let NVML's utilisation window (about 1 s) see the products
            print(f"-- under load: pid {load.pid} holds {args.load_gib} GiB on GPU 0 as replica decode-0")
            asyncio.run(read(source, load.pid))
            cross_check()
        finally:
            load.kill()
            load.wait()
    if indices:
        start = time.perf_counter()
        for _ in range(args.rounds):
            nvml.read_gpus()
        per_gpu = (time.perf_counter() - start) / args.rounds / len(indices)
        print(f"NVML batch: {per_gpu * 1e6:.0f} us per GPU ({args.rounds} batches of {len(indices)})")
        print("NVML queries on GPU 0:")
        time_queries(args.rounds)
    nvml.shutdown()


if __name__ == "__main__":
    main()
