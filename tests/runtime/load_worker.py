"""A replica process for the runtime tests: serves vLLM-named load gauges read from a JSON file.

``--load-file F --component NAME``: ``/metrics`` serves ``vllm:kv_cache_usage_perc`` and
``vllm:num_requests_waiting`` from ``F[NAME]`` (``{"kv": 0.95, "waiting": 2}``), re-read on every
scrape, so a test changes the load by rewriting the file. ``/health`` answers once started.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--load-file", required=True)
    parser.add_argument("--component", required=True)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/health":
                body = b"ok\n"
            elif self.path == "/metrics":
                try:
                    with open(args.load_file) as handle:
                        load = json.load(handle).get(args.component, {})
                except (OSError, ValueError):
                    load = {}
                body = (
                    f'vllm:kv_cache_usage_perc{{model="m"}} {float(load.get("kv", 0.0))}\n'
                    f'vllm:num_requests_waiting{{model="m"}} {float(load.get("waiting", 0.0))}\n'
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
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(f"{args.component} serving load on 127.0.0.1:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
