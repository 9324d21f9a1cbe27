"""Scraping real HTTP endpoints on 127.0.0.1: parsing, errors, per-target timeout, bounded concurrency."""

from __future__ import annotations

import socket
import time

import pytest

from planner_tui.metrics.scrape import Sample, scrape
from tests.metrics.http_fixtures import MetricsServer

WORKER_TEXT = """\
# HELP vllm:num_requests_waiting Requests waiting.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model="m"} 3
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model="m"} 0.42
# TYPE dynamo_component_requests counter
dynamo_component_requests_total{dynamo_endpoint="generate"} 17
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{le="0.1"} 4
vllm:time_to_first_token_seconds_bucket{le="+Inf"} 5
vllm:time_to_first_token_seconds_sum 0.9
vllm:time_to_first_token_seconds_count 5
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_parses_gauges_counters_and_histograms(metrics_server: MetricsServer) -> None:
    url = metrics_server.serve("/metrics", WORKER_TEXT)
    result = (await scrape([url], timeout=5, concurrency=4))[url]
    assert result.ok and result.error is None and result.duration_s > 0
    assert Sample("vllm:num_requests_waiting", {"model": "m"}, 3.0) in result.samples
    assert Sample("vllm:kv_cache_usage_perc", {"model": "m"}, 0.42) in result.samples
    assert Sample("dynamo_component_requests_total", {"dynamo_endpoint": "generate"}, 17.0) in result.samples
    assert Sample("vllm:time_to_first_token_seconds_bucket", {"le": "+Inf"}, 5.0) in result.samples
    assert Sample("vllm:time_to_first_token_seconds_count", {}, 5.0) in result.samples


async def test_each_failure_is_reported_without_stopping_the_others(metrics_server: MetricsServer) -> None:
    good = metrics_server.serve("/metrics", WORKER_TEXT)
    broken = metrics_server.serve("/broken", "oops", status=500)
    garbage = metrics_server.serve("/garbage", "this is { not prometheus text\n")
    refused = f"http://127.0.0.1:{closed_port()}/metrics"
    results = await scrape([good, broken, garbage, refused], timeout=5, concurrency=4)
    assert results[good].ok
    assert results[broken].error == "HTTP 500"
    assert not results[garbage].ok and results[garbage].error.startswith("unparseable metrics")
    assert not results[refused].ok and results[refused].error.startswith("cannot connect")
    assert all(results[u].samples == [] for u in (broken, garbage, refused))


async def test_a_target_that_hangs_times_out_alone(metrics_server: MetricsServer) -> None:
    hung = metrics_server.serve("/hung", WORKER_TEXT, hold=True)
    urls = [hung] + [metrics_server.serve(f"/w{i}", WORKER_TEXT) for i in range(5)]
    start = time.perf_counter()
    results = await scrape(urls, timeout=0.5, concurrency=8)
    elapsed = time.perf_counter() - start
    assert results[hung].error == "timed out after 0.5 s" and not results[hung].ok
    assert all(results[u].ok for u in urls[1:])
    assert elapsed < 5  # bounded by the per-target timeout, not by the hung target


async def test_concurrency_is_bounded(metrics_server: MetricsServer) -> None:
    urls = [metrics_server.serve(f"/w{i}", WORKER_TEXT, delay_s=0.05) for i in range(24)]
    results = await scrape(urls, timeout=10, concurrency=3)
    assert all(r.ok for r in results.values()) and len(results) == 24
    assert metrics_server.state.requests == 24
    assert 1 <= metrics_server.state.max_in_flight <= 3


async def test_duplicate_urls_are_scraped_once(metrics_server: MetricsServer) -> None:
    url = metrics_server.serve("/metrics", WORKER_TEXT)
    results = await scrape([url, url, url], timeout=5, concurrency=2)
    assert list(results) == [url] and metrics_server.state.requests == 1


@pytest.mark.parametrize(("timeout", "concurrency", "message"), [(0, 1, "timeout"), (1, 0, "concurrency")])
async def test_bad_arguments_are_refused(timeout: float, concurrency: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await scrape(["http://127.0.0.1:1/metrics"], timeout=timeout, concurrency=concurrency)


class ChunkedHandlerServer:
    """An HTTP/1.1 server answering with a chunked body over keep-alive connections."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.clients: set[int] = set()
        clients = self.clients

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                clients.add(self.client_address[1])
                self.send_response(200)
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for part in (WORKER_TEXT[:50], WORKER_TEXT[50:300], WORKER_TEXT[300:]):
                    data = part.encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/metrics"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


async def test_chunked_bodies_and_connections_kept_between_ticks() -> None:
    from planner_tui.metrics.scrape import Scraper

    server = ChunkedHandlerServer()
    scraper = Scraper()
    try:
        for _ in range(3):
            result = (await scraper.scrape([server.url], timeout=5, concurrency=1))[server.url]
            assert result.ok and Sample("vllm:kv_cache_usage_perc", {"model": "m"}, 0.42) in result.samples
        assert len(server.clients) == 1  # one connection, reused by every tick
        await scraper.scrape([], timeout=5, concurrency=1)  # the target left the graph
        await scraper.scrape([server.url], timeout=5, concurrency=1)
        assert len(server.clients) == 2  # its idle connection was closed, a new one was made
    finally:
        await scraper.close()
        server.stop()


async def test_an_httpx_client_can_be_given(metrics_server: MetricsServer) -> None:
    import httpx

    url = metrics_server.serve("/metrics", WORKER_TEXT)
    async with httpx.AsyncClient(trust_env=False) as client:
        result = (await scrape([url], timeout=5, concurrency=1, client=client))[url]
    assert result.ok and len(result.samples) == 7
