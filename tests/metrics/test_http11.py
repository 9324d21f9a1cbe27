"""The keep-alive HTTP/1.1 client against real servers on 127.0.0.1 that write raw (sometimes odd) responses."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from planner_tui.metrics.http11 import BodyTooLarge, Http11Pool, HttpProtocolError, IncompleteResponse, UnsupportedUrl
from planner_tui.metrics.scrape import Scraper

BODY = b"".join(b'vllm:num_requests_waiting{model="m%d"} %d\n' % (i, i) for i in range(40))


@dataclass
class Exchange:
    """One request a :class:`RawServer` received: which connection (0 = the first), which request on it."""

    connection: int
    request: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


Handler = Callable[[Exchange], Awaitable[bool]]  # answers one request; False closes the connection


class RawServer:
    """An asyncio server on 127.0.0.1 whose handler writes whatever bytes a test wants."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests = 0
        self.closed = asyncio.Event()  # a connection was closed (by either side)
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        index = self.connections
        self.connections += 1
        try:
            for request in range(1_000_000):
                await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                if not await self.handler(Exchange(index, request, reader, writer)):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self.closed.set()
            self._tasks.discard(task)
            self._writers.discard(writer)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RawServer]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/metrics"
        try:
            yield self
        finally:
            server.close()
            for writer in list(self._writers):
                writer.transport.abort()  # ends handlers still reading (bounded: they see the connection lost)
            await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 20)
            await server.wait_closed()


async def send(writer: asyncio.StreamWriter, data: bytes, piece: int = 0) -> None:
    """Write ``data``, in pieces of ``piece`` bytes each flushed on its own when ``piece`` is set."""
    if not piece:
        writer.write(data)
        await writer.drain()
        return
    for start in range(0, len(data), piece):
        writer.write(data[start : start + piece])
        await writer.drain()
        # the client runs on this loop: let it read this piece before the next one is written
        for _ in range(3):
            await asyncio.sleep(0)


def response(body: bytes = BODY, *headers: str, status: str = "200 OK", version: str = "HTTP/1.1") -> bytes:
    head = f"{version} {status}\r\n" + "".join(f"{h}\r\n" for h in headers) + "\r\n"
    return head.encode() + body


def chunked(body: bytes, sizes: tuple[int, ...], trailers: str = "") -> bytes:
    """``body`` in chunks of ``sizes`` bytes (the rest in one last chunk), then ``trailers``."""
    out, start = b"", 0
    for size in (*sizes, len(body)):
        part = body[start : start + size]
        if part:
            out += b"%x;name=value\r\n" % len(part) + part + b"\r\n"
        start += len(part)
    return out + b"0\r\n" + trailers.encode() + b"\r\n"


@pytest.fixture
async def pool() -> AsyncIterator[Http11Pool]:
    pool = Http11Pool()
    yield pool
    await pool.close()


@pytest.mark.parametrize("piece", [1, 7, 100])
async def test_a_response_split_into_small_writes(pool: Http11Pool, piece: int) -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.request == 0:
            await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}"), piece)
        else:
            body = chunked(BODY, (5, 300, len(BODY)))
            await send(exchange.writer, response(body, "Transfer-Encoding: chunked", "X-Seen: 1"), piece)
        return True

    async with RawServer(handler).running() as server:
        assert await asyncio.wait_for(pool.get(server.url), 20) == (200, BODY)
        assert await asyncio.wait_for(pool.get(server.url), 20) == (200, BODY)
        assert server.connections == 1  # both answers fully read: the connection was kept


async def test_chunked_with_extensions_and_trailers_keeps_the_connection(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        body = chunked(BODY, (1, 64, 1000), trailers="X-Checksum: abc\r\nX-Other: 1\r\n")
        await send(exchange.writer, response(body, "Transfer-Encoding: chunked"))
        return True

    async with RawServer(handler).running() as server:
        for _ in range(3):
            assert await pool.get(server.url) == (200, BODY)
        assert server.connections == 1 and server.requests == 3


async def test_a_close_delimited_body_is_read_to_the_end_and_not_kept(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, response(BODY, "Content-Type: text/plain"), piece=50)
        return False  # the server closes the connection: that ends the body

    async with RawServer(handler).running() as server:
        assert await pool.get(server.url) == (200, BODY)
        assert await pool.get(server.url) == (200, BODY)
        assert server.connections == 2


@pytest.mark.parametrize(
    "head",
    [
        ("Connection: close",),
        ("Connection: keep-alive, close",),
        ("Connection: Close",),
    ],
)
async def test_connection_close_is_not_reused(pool: Http11Pool, head: tuple[str, ...]) -> None:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}", *head))
        return True  # the server keeps it open anyway: the client must not reuse it

    async with RawServer(handler).running() as server:
        for _ in range(3):
            assert await pool.get(server.url) == (200, BODY)
        assert server.connections == 3


async def test_http10_is_not_reused(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}", version="HTTP/1.0"))
        return True

    async with RawServer(handler).running() as server:
        assert await pool.get(server.url) == (200, BODY)
        assert await pool.get(server.url) == (200, BODY)
        assert server.connections == 2


async def test_bytes_beyond_the_response_are_not_taken_for_the_next_one(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}") + b"HTTP/1.1 500 Stale\r\n\r\n")
        return True

    async with RawServer(handler).running() as server:
        assert await pool.get(server.url) == (200, BODY)
        assert await pool.get(server.url) == (200, BODY)
        assert server.connections == 2


@pytest.mark.parametrize("status", ["204 No Content", "304 Not Modified"])
async def test_bodiless_statuses(pool: Http11Pool, status: str) -> None:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, response(b"", status=status))  # no length, yet no body: kept
        return True

    async with RawServer(handler).running() as server:
        code = int(status[:3])
        assert await pool.get(server.url) == (code, b"")
        assert await pool.get(server.url) == (code, b"")
        assert server.connections == 1


async def test_an_interim_response_is_followed_by_the_final_one(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        interim = response(b"", status="100 Continue") + response(b"", "Link: </s>", status="103 Early Hints")
        await send(exchange.writer, interim + response(BODY, f"Content-Length: {len(BODY)}"))
        return True

    async with RawServer(handler).running() as server:
        assert await pool.get(server.url) == (200, BODY)
        assert await pool.get(server.url) == (200, BODY)
        assert server.connections == 1


async def test_a_server_closing_the_idle_connection_between_ticks(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}"))
        return False  # closes right after answering, without saying so

    async with RawServer(handler).running() as server:
        assert await pool.get(server.url) == (200, BODY)
        await asyncio.wait_for(server.closed.wait(), 20)
        assert await pool.get(server.url) == (200, BODY)
        assert server.connections == 2


async def test_a_reused_connection_closed_before_answering_is_retried_once(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.request == 0:
            await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}"))
            return True
        return False  # the second request on a connection: closed unanswered (an idle timeout racing it)

    async with RawServer(handler).running() as server:
        for expected_connections in (1, 2, 3):
            assert await asyncio.wait_for(pool.get(server.url), 20) == (200, BODY)
            assert server.connections == expected_connections


async def test_the_retry_happens_only_once(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.connection == 0 and exchange.request == 0:
            await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}"))
            return True
        return False  # every later request: closed unanswered

    async with RawServer(handler).running() as server:
        assert await pool.get(server.url) == (200, BODY)
        with pytest.raises(IncompleteResponse, match="before any response"):
            await asyncio.wait_for(pool.get(server.url), 20)
        assert server.connections == 2  # the reused one, then one fresh connection
        with pytest.raises(IncompleteResponse, match="before any response"):
            await asyncio.wait_for(pool.get(server.url), 20)
        assert server.connections == 3  # a fresh connection that fails is not retried


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (response(b"", "Content-Length: 100") + b"only ten b", "after 10 of 100 body bytes"),
        (response(chunked(BODY, (100,))[:60], "Transfer-Encoding: chunked"), "in the middle of a chunked body"),
        (b"HTTP/1.1 200 OK\r\nContent-Le", "in the response headers"),
    ],
)
async def test_the_server_closing_mid_response_is_an_error(pool: Http11Pool, answer: bytes, message: str) -> None:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, answer)
        return False

    async with RawServer(handler).running() as server:
        with pytest.raises(asyncio.IncompleteReadError, match=message):
            await asyncio.wait_for(pool.get(server.url), 20)


async def test_a_mid_body_close_on_a_reused_connection_is_not_retried(pool: Http11Pool) -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.request == 0:
            await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}"))
            return True
        await send(exchange.writer, response(b"partial", "Content-Length: 100"))
        return False

    async with RawServer(handler).running() as server:
        assert await pool.get(server.url) == (200, BODY)
        with pytest.raises(IncompleteResponse, match="after 7 of 100 body bytes"):
            await pool.get(server.url)
        assert server.connections == 1


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "not an HTTP/1.x response: 'SSH-2.0-OpenSSH_9.6'"),
        (b"HTTP/1.1 2xx OK\r\n\r\n", "not an HTTP/1.x response"),
        (response(b"", "Content-Length: ten"), "bad Content-Length 'ten'"),
        (response(b"", "Content-Length: -1"), "bad Content-Length '-1'"),
        (response(b"", "Content-Length: 3", "Content-Length: 4"), "bad Content-Length '3, 4'"),
        (response(b"zz\r\nhello\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), "bad chunk size b'zz'"),
        (response(b"-5\r\nhello\r\n0\r\n\r\n", "Transfer-Encoding: chunked"), "bad chunk size b'-5'"),
        (response(b"5\r\nhelloXX0\r\n\r\n", "Transfer-Encoding: chunked"), "not followed by CRLF"),
        (response(b"", "X-Big: " + "a" * (70 * 1024)), "response headers larger than 65536 bytes"),
        (response(b"", "Content-Length: 104857600"), "of 104857600 bytes is over the limit of 4194304 bytes"),
        (response(b"4000001\r\n", "Transfer-Encoding: chunked"), "response body over the limit of 4194304 bytes"),
    ],
)
async def test_bad_responses_are_refused_with_a_clear_message(pool: Http11Pool, answer: bytes, message: str) -> None:
    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, answer)
        await exchange.reader.read()  # until the client drops the connection
        return False

    async with RawServer(handler).running() as server:
        with pytest.raises(HttpProtocolError, match=message.replace("(", r"\(")):
            await asyncio.wait_for(pool.get(server.url), 20)
        await asyncio.wait_for(server.closed.wait(), 20)  # the refused connection was closed, not kept


async def test_a_close_delimited_body_over_the_limit_is_refused() -> None:
    pool = Http11Pool(max_body=1000)

    async def handler(exchange: Exchange) -> bool:
        await send(exchange.writer, response(b"x" * 700), piece=700)
        await send(exchange.writer, b"y" * 700)
        await exchange.reader.read()
        return False

    async with RawServer(handler).running() as server:
        with pytest.raises(BodyTooLarge, match=r"over the limit of 1000 bytes \(1400 bytes read"):
            await asyncio.wait_for(pool.get(server.url), 20)
    await pool.close()


@pytest.mark.parametrize("own_timeout", [False, True], ids=["asyncio.timeout around get", "the pool's timeout"])
async def test_a_timeout_closes_the_connection_and_the_next_get_opens_a_new_one(
    pool: Http11Pool, own_timeout: bool
) -> None:
    gone = asyncio.Event()

    async def handler(exchange: Exchange) -> bool:
        if exchange.connection == 0 and exchange.request == 1:
            # hold this request; the client gives up and must close the connection
            await send(exchange.writer, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf")
            if await exchange.reader.read() == b"":
                gone.set()
            return False
        await send(exchange.writer, response(BODY, f"Content-Length: {len(BODY)}"))
        return True

    async with RawServer(handler).running() as server:
        assert await pool.get(server.url) == (200, BODY)
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            if own_timeout:
                await pool.get(server.url, timeout=0.3)
            else:
                async with asyncio.timeout(0.3):
                    await pool.get(server.url)
        assert asyncio.get_running_loop().time() - started < 10  # the timeout ended it, not the server
        await asyncio.wait_for(gone.wait(), 20)  # the half-read connection was closed
        assert await pool.get(server.url, timeout=20) == (200, BODY)
        assert server.connections == 2


async def test_https_and_other_schemes_are_unsupported(pool: Http11Pool) -> None:
    for url in ("https://127.0.0.1:1/metrics", "ftp://127.0.0.1/x", "http:///metrics"):
        with pytest.raises(UnsupportedUrl, match="not a plain http URL"):
            await pool.get(url)


async def test_the_scraper_reports_a_truncated_body_and_goes_on() -> None:
    async def handler(exchange: Exchange) -> bool:
        if exchange.connection == 0:
            await send(exchange.writer, response(b"vllm:x 1\n", "Content-Length: 100"))
            return False
        await send(exchange.writer, response(b"vllm:x 2\n", "Content-Length: 9"))
        return True

    scraper = Scraper()
    async with RawServer(handler).running() as server:
        try:
            result = (await scraper.scrape([server.url], timeout=20, concurrency=1))[server.url]
            assert not result.ok and result.error is not None
            assert "connection closed by the server after 9 of 100 body bytes" in result.error
            result = (await scraper.scrape([server.url], timeout=20, concurrency=1))[server.url]
            assert result.ok and [s.value for s in result.samples] == [2.0]
        finally:
            await scraper.close()
