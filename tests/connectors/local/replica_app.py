"""A small replica process for the local connector's tests.

Serves ``/health`` and ``/metrics`` on 127.0.0.1:PORT with http.server, writes log lines, and can
crash on purpose: ``--exit-after S --exit-code N`` exits after S seconds, ``--lines N`` writes N
lines at start, ``--line-every S`` keeps writing a line every S seconds. ``--ready-after S`` answers
``--not-ready-status`` (503) with ``--not-ready-body`` for S seconds (``--health-only``: on /health
only, as a Dynamo worker without its endpoint health status does).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--name", default="replica")
    parser.add_argument("--exit-after", type=float, default=None)
    parser.add_argument("--exit-code", type=int, default=3)
    parser.add_argument("--lines", type=int, default=0)
    parser.add_argument("--line-every", type=float, default=0.0)
    parser.add_argument("--line-size", type=int, default=0)
    parser.add_argument("--ready-after", type=float, default=0.0)
    parser.add_argument("--health-only", action="store_true", help="--ready-after delays /health only")
    parser.add_argument("--not-ready-status", type=int, default=503)
    parser.add_argument("--not-ready-body", default="", help="body of the answer while not ready")
    parser.add_argument("--junk-body", action="store_true", help="while not ready: a long body with escapes")
    parser.add_argument("--print-env", action="append", default=[], help="print NAME=value at start")
    parser.add_argument("--print-python", action="store_true", help="print the interpreter at start")
    parser.add_argument("--waiting", type=float, default=0.0)
    args = parser.parse_args()
    started = time.time()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if time.time() - started < args.ready_after and (self.path == "/health" or not args.health_only):
                body = args.not_ready_body.encode()
                if args.junk_body:
                    body = b"\x1b[31mred\x1b[0m\r\nline two\x00\x07 " + b"x" * 5000
                self.send_response(args.not_ready_status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path == "/health":
                body = b"ok\n"
            elif self.path == "/metrics":
                body = (
                    f'vllm:num_requests_waiting{{model="m"}} {args.waiting}\n'
                    f"dynamo_component_inflight_requests 1\n"
                    f'replica_info{{cuda="{os.environ.get("CUDA_VISIBLE_DEVICES", "")}"}} {os.getpid()}\n'
                ).encode()
            else:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    signal.signal(signal.SIGTERM, lambda *_: (print(f"{args.name} stopping", flush=True), os._exit(0)))
    print(
        f"{args.name} pid={os.getpid()} port={args.port} gpus={os.environ.get('CUDA_VISIBLE_DEVICES', '')} "
        f"home={os.environ.get('HOME', '')}",
        flush=True,
    )
    print(f"{args.name} stderr hello", file=sys.stderr, flush=True)
    for key in args.print_env:
        print(f"{args.name} env {key}={os.environ.get(key, '<unset>')}", flush=True)
    if args.print_python:
        print(f"{args.name} python {sys.executable}", flush=True)
    pad = "x" * args.line_size
    for i in range(args.lines):
        print(f"{args.name} line {i} {pad}".rstrip(), flush=True)

    def ticker() -> None:
        i = 0
        while True:
            time.sleep(args.line_every)
            print(f"{args.name} tick {i} {pad}".rstrip(), flush=True)
            i += 1

    if args.line_every > 0:
        threading.Thread(target=ticker, daemon=True).start()
    if args.exit_after is not None:

        def crash() -> None:
            time.sleep(args.exit_after)
            print(f"{args.name} crashing with {args.exit_code}", file=sys.stderr, flush=True)
            os._exit(args.exit_code)

        threading.Thread(target=crash, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
