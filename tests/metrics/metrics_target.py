"""A real process serving Prometheus text on loopback ports, for collector/scrape tests and benchmarks.

    python metrics_target.py (--count N | --port P) [--body-file FILE] [--delay S] [--no-gpu-gauges]

Listens on N free ports of 127.0.0.1 (or on port P) and prints them as one JSON line on stdout. ``GET /metrics``
answers the content of ``--body-file`` (re-read when it changes, so a test can move the values) or,
without one, a synthetic Dynamo/vLLM worker exposition; ``GET /health`` answers 200. HTTP/1.1 with
keep-alive. ``--delay`` holds every /metrics answer that many seconds (a slow target).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys

GAUGES = ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc")
HISTOGRAMS = ("vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds")
BOUNDS = ("0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf")


def synthetic(port: int, tick: int, gpu_gauges: bool = True) -> str:
    lines = []
    for name in GAUGES:
        lines += [f"# HELP {name} {name}", f"# TYPE {name} gauge", f'{name}{{model_name="m"}} {(port + tick) % 7 / 10}']
    lines += [
        "# TYPE dynamo_component_requests_total counter",
        f'dynamo_component_requests_total{{dynamo_endpoint="generate"}} {tick * 3}',
        "# TYPE dynamo_component_inflight_requests gauge",
        f'dynamo_component_inflight_requests{{dynamo_endpoint="generate"}} {tick % 5}',
    ]
    for name in HISTOGRAMS:
        lines.append(f"# TYPE {name} histogram")
        for i, bound in enumerate(BOUNDS):
            lines.append(f'{name}_bucket{{model_name="m",le="{bound}"}} {tick * (i + 1)}')
        lines += [f'{name}_sum{{model_name="m"}} {tick * 0.3}', f'{name}_count{{model_name="m"}} {tick * len(BOUNDS)}']
    gpu = port % 8
    gauges = (("DCGM_FI_DEV_GPU_UTIL", 50), ("DCGM_FI_DEV_FB_USED", 1000), ("DCGM_FI_DEV_FB_FREE", 79000))
    for name, value in gauges if gpu_gauges else ():
        lines += [
            f"# TYPE {name} gauge",
            f'{name}{{gpu="{gpu}",UUID="SIM-GPU-{gpu}",modelName="Simulated GPU",Hostname="simulated",'
            f'simulated="true"}} {value}',
        ]
    return "\n".join(lines) + "\n"


class Body:
    def __init__(self, path: str | None, gpu_gauges: bool = True) -> None:
        self.path = path
        self.gpu_gauges = gpu_gauges
        self.mtime = 0.0
        self.text = ""
        self.ticks: dict[int, int] = {}

    def get(self, port: int) -> str:
        if self.path is None:
            self.ticks[port] = self.ticks.get(port, 0) + 1
            return synthetic(port, self.ticks[port], self.gpu_gauges)
        try:
            mtime = os.stat(self.path).st_mtime_ns
            if mtime != self.mtime:
                with open(self.path, encoding="utf-8") as handle:
                    self.text = handle.read()
                self.mtime = mtime
        except OSError:
            pass
        return self.text


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, body: Body, delay: float) -> None:
    port = writer.get_extra_info("sockname")[1]
    try:
        while True:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode()
            if path.startswith("/metrics"):
                if delay:
                    await asyncio.sleep(delay)
                status, payload = "200 OK", body.get(port).encode()
            elif path.startswith("/health"):
                status, payload = "200 OK", b"ok\n"
            else:
                status, payload = "404 Not Found", b"not found\n"
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n"
                f"Content-Length: {len(payload)}\r\n\r\n"
            )
            writer.write(head.encode() + payload)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--port", type=int, default=0, help="listen on this port (with --count 1)")
    parser.add_argument("--body-file")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--no-gpu-gauges", action="store_true", help="leave the simulated DCGM gauges out")
    args = parser.parse_args()
    body = Body(args.body_file, gpu_gauges=not args.no_gpu_gauges)
    servers = []
    for _ in range(args.count):
        servers.append(
            await asyncio.start_server(lambda r, w: handle(r, w, body, args.delay), "127.0.0.1", args.port, backlog=512)
        )
    ports = [s.sockets[0].getsockname()[1] for s in servers]
    print(json.dumps({"pid": os.getpid(), "ports": ports}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    for server in servers:
        server.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
