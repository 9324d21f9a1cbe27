"""The fast HTTP path answers what the reference (httpx) answers, from a real server on 127.0.0.1.

Property-based: the same responses (statuses, bodies, framings, keep-alive or not, cut short, not HTTP,
over the body cap) are served to both :class:`Http11Pool` and :class:`HttpxFetcher`; each request is
made twice on one fetcher (the second one on a kept connection when the first allowed it).
Also: credentials in a URL never reach the Host header (Basic auth through the reference path, and
redacted in messages), each connection has its own receive buffer, and a Scraper owns its threads.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner_tui.config.urls import redact_url, url_problem
from planner_tui.metrics import exposition_layout, scrape
from planner_tui.metrics.fetch import Fetcher, HttpxFetcher, RoutingFetcher
from planner_tui.metrics.http11 import BodyTooLarge, Http11Pool, HttpProtocolError, UnsupportedUrl
from planner_tui.metrics.prometheus import PrometheusClient
from planner_tui.metrics.scrape import CLOSE_WAIT_S, Scraper
from tests.metrics.test_http11 import Exchange, RawServer, chunked, response, send


@dataclass(frozen=True)
class Answer:
    """One response a test server writes: its status, body, framing, and how it ends."""

    status: int
    body: bytes
    framing: str  # "length", "chunked" or "close" (the body ends when the connection does)
    chunk_sizes: tuple[int, ...]
    keep_alive: bool
    cut: str  # "" (whole), "body" (closed mid-body) or "garbage" (not an HTTP response)

    def raw(self) -> bytes:
        if self.cut == "garbage":
            return b"SSH-2.0-OpenSSH_9.6\r\n\r\n"
        reason = {200: "OK", 201: "Created", 404: "Not Found", 500: "Internal Server Error", 503: "Unavailable"}
        status = f"{self.status} {reason[self.status]}"
        headers = ["Content-Type: text/plain"] + ([] if self.keep_alive else ["Connection: close"])
        if self.framing == "length":
            data = response(self.body, *headers, f"Content-Length: {len(self.body)}", status=status)
        elif self.framing == "chunked":
            data = response(chunked(self.body, self.chunk_sizes), *headers, "Transfer-Encoding: chunked", status=status)
        else:
            data = response(self.body, *headers, status=status)
        if self.cut == "body":
            data = data[: len(data) - 1 - len(self.body) // 2]  # some of the body (or of its framing) missing
        return data

    def ends_connection(self) -> bool:
        return self.framing == "close" or not self.keep_alive or self.cut != ""


answers = st.builds(
    Answer,
    status=st.sampled_from([200, 201, 404, 500, 503]),
    body=st.binary(max_size=3000) | st.text(max_size=400).map(str.encode),
    framing=st.sampled_from(["length", "chunked", "close"]),
    chunk_sizes=st.lists(st.integers(1, 700), max_size=4).map(tuple),
    keep_alive=st.booleans(),
    cut=st.sampled_from(["", "", "", "body", "garbage"]),
)


def outcome(result: tuple[int, bytes] | BaseException) -> tuple[object, ...]:
    """What a scrape makes of a fetch: the answer, or the kind of failure."""
    if isinstance(result, BodyTooLarge):
        return ("too large", result.limit, result.size)
    if isinstance(result, HttpProtocolError | asyncio.IncompleteReadError | httpx.RemoteProtocolError):
        return ("not a complete HTTP response",)
    if isinstance(result, BaseException):
        return ("other", type(result).__name__, str(result))
    return result


async def fetch_twice(fetcher: Fetcher, url: str) -> list[tuple[object, ...]]:
    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(outcome(await fetcher.get(url, 10.0)))
        except Exception as exc:
            outcomes.append(outcome(exc))
    await fetcher.close()
    return outcomes


async def served(answer: Answer, max_body: int) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, answer.raw())
        return not answer.ends_connection()

    async with RawServer(handler).running() as server:
        fast = await fetch_twice(Http11Pool(max_body), server.url)
        reference = await fetch_twice(HttpxFetcher(max_body=max_body), server.url)
    return fast, reference


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answer=answers, max_body=st.sampled_from([10_000, 1500, 200]))
def test_the_fast_client_answers_what_httpx_answers(answer: Answer, max_body: int) -> None:
    fast, reference = asyncio.run(served(answer, max_body))
    if answer.framing == "chunked" and answer.cut == "" and len(answer.body) > max_body:
        # both refuse it; the fast path counts the chunk sizes it is told, httpx the bytes it read
        assert [o[0] for o in fast] == [o[0] for o in reference] == ["too large", "too large"]
        return
    assert fast == reference


async def test_the_same_samples_through_the_fast_and_the_reference_scraper() -> None:
    text = b'# TYPE q gauge\nq{model="m"} 3\n# TYPE r_total counter\nr_total 7\n'
    answers_ = [
        Answer(200, text, "chunked", (5, 17), True, ""),
        Answer(200, text, "length", (), False, ""),
        Answer(503, text, "length", (), True, ""),
    ]
    for answer in answers_:

        async def handler(exchange: Exchange, answer: Answer = answer) -> bool:
            await send(exchange.writer, answer.raw())
            return not answer.ends_connection()

        async with RawServer(handler).running() as server:
            results = []
            for fast_http in (True, False):
                scraper = Scraper(fast_http=fast_http)
                try:
                    results.append([(await scraper.scrape([server.url], 5.0, 1))[server.url] for _ in range(2)])
                finally:
                    await scraper.close()
        fast, reference = results
        assert [(r.ok, r.error, r.samples) for r in fast] == [(r.ok, r.error, r.samples) for r in reference]


def test_the_default_scraper_takes_the_fast_path_and_a_given_client_the_reference() -> None:
    assert isinstance(Scraper().fetcher, RoutingFetcher)
    assert isinstance(Scraper(fast_http=False).fetcher, HttpxFetcher)
    assert isinstance(Scraper(httpx.AsyncClient()).fetcher, HttpxFetcher)


# credentials in a URL


async def test_credentials_never_go_in_the_host_header_and_are_sent_as_basic_auth() -> None:
    heads: list[bytes] = []
    body = b"q 1\n"

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(response(body, f"Content-Length: {len(body)}", "Connection: close"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    url = f"http://scraper:s3cret@127.0.0.1:{port}/metrics"
    try:
        with pytest.raises(UnsupportedUrl, match="credentials"):
            await Http11Pool().get(url, 5.0)
        scraper = Scraper()
        try:
            result = (await scraper.scrape([url], 5.0, 1))[url]
        finally:
            await scraper.close()
    finally:
        server.close()
        await server.wait_closed()
    assert result.ok and result.samples[0].value == 1.0
    head = heads[0].decode("latin-1")
    fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if line)
    assert fields["Host"] == f"127.0.0.1:{port}"
    assert fields["Authorization"] == "Basic " + base64.b64encode(b"scraper:s3cret").decode()
    assert "s3cret" not in repr(result)


def test_the_fast_client_sends_the_path_and_host_and_port_only() -> None:
    request = Http11Pool()._request("http://127.0.0.1:9100/metrics?x=1")[1].decode()
    assert request.startswith("GET /metrics?x=1 HTTP/1.1\r\nHost: 127.0.0.1:9100\r\n")


@pytest.mark.parametrize(
    ("url", "host"),
    [("http://[::1]:9100/m", "[::1]:9100"), ("http://Node-3:80/m", "node-3:80"), ("http://h/m", "h")],
)
def test_the_host_header_of_unusual_hosts(url: str, host: str) -> None:
    pool = Http11Pool()
    assert f"\r\nHost: {host}\r\n" in pool._request(url)[1].decode()


@pytest.mark.parametrize("url", ["http://h/a b", "http://h/caf\u00e9", "https://h/m", "http://u@h/m", "http://h:x/m"])
def test_urls_the_fast_client_leaves_to_the_reference(url: str) -> None:
    with pytest.raises(UnsupportedUrl):
        Http11Pool()._request(url)


def test_credentials_are_redacted_wherever_a_url_is_shown() -> None:
    assert redact_url("http://user:pw@h:9/metrics?x=@") == "http://user:***@h:9/metrics?x=@"
    assert redact_url("http://h:9/metrics?a=b@c") == "http://h:9/metrics?a=b@c"
    assert PrometheusClient("http://admin:pw@127.0.0.1:9090").shown_url == "http://admin:***@127.0.0.1:9090"
    problem = url_problem("ftp://user:pw@h/m")
    assert problem is not None and "pw" not in problem and "user:***@h" in problem
    assert url_problem("http://user:pw@127.0.0.1:9100/metrics") is None  # accepted: sent as Basic auth


# one receive buffer per connection


async def test_each_connection_has_its_own_receive_buffer() -> None:
    body = b"x 1\n" * 5000  # 20 KB, in small pieces: many reads on both connections, interleaved

    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, response(body, f"Content-Length: {len(body)}"), piece=997)
        return True

    async with RawServer(handler).running() as first, RawServer(handler).running() as second:
        pool = Http11Pool()
        try:
            for _ in range(3):
                results = await asyncio.gather(pool.get(first.url, 10), pool.get(second.url, 10))
                assert results == [(200, body), (200, body)]
            connections = [c for idle in pool._idle.values() for c in idle]
            assert len(connections) == 2
            assert connections[0]._scratch.obj is not connections[1]._scratch.obj
        finally:
            await pool.close()


# the scraper's threads


def scraper_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("planner-tui-parse", "planner-tui-layouts"))]


def test_no_module_holds_a_thread_pool() -> None:
    for module in (scrape, exposition_layout):
        assert not [name for name in vars(module) if name in ("_parser_pool", "_compiler")]


async def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_close_ends_the_scrapers_threads_even_with_a_parse_in_progress() -> None:
    assert await wait_for(lambda: not scraper_threads(), 5)  # left by other tests, if any
    # the slow reference parser (escapes in four labels): ~0.8 s here, so a 0.5 s budget ends mid-parse, not
    # mid-fetch, even on a busy machine (45,000 series: under the default limit of 50,000)
    labels = ",".join(f'{k}="{k}\\\\{{i}}"' for k in "abcd")
    long_text = "".join(f"m{{{labels.format(i=i)}}} 1\n" for i in range(45_000)).encode()
    layout_text = "".join(f'h{h}_bucket{{le="{i}"}} {i}\n' for h in range(60) for i in range(4)).encode()

    async def handler(exchange: Exchange) -> bool:
        body = layout_text if exchange.connection == 0 else long_text  # the second scraper's comes first
        await send(exchange.writer, response(body, f"Content-Length: {len(body)}"))
        return True

    async with RawServer(handler).running() as server:
        first, second = Scraper(), Scraper()
        try:
            await second.scrape([server.url], 5.0, 1)  # its layout is compiled in its own thread
            result = (await first.scrape([server.url], 0.5, 1))[server.url]  # abandoned mid-parse
            assert not result.ok and "parsing a long exposition" in (result.error or "")
            assert any(t.name.startswith("planner-tui-parse") for t in scraper_threads())
        finally:
            started = time.monotonic()
            await first.close()
            await second.close()
            closing = time.monotonic() - started
    assert closing < 2 * CLOSE_WAIT_S + 1
    assert await wait_for(lambda: not scraper_threads(), CLOSE_WAIT_S + 1)
