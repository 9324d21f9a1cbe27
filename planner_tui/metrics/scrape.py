"""Scraping Prometheus text endpoints: many at once, each with its own timeout, bounded concurrency.

A target that does not answer in time, answers with an error status or with text that does not
parse gives a :class:`ScrapeResult` with ``ok=False`` and an ``error`` saying why; it never raises
and never stalls the other targets.

Each scrape is bounded, whatever the target sends:

- in time: every target of one :meth:`Scraper.scrape` is done (answered and parsed) or given up by
  one deadline, ``timeout`` after the call; a long text is parsed in a worker thread, in pieces
  (the event loop keeps running), and abandoned at the deadline;
- in memory: a body over ``max_body_bytes`` is refused (from its Content-Length before it is read,
  or as soon as a chunked body passes it), an exposition with more than ``max_series`` sample lines
  is refused before any sample is made, and no layout is built for a long text.

The errors name the limit and the ``[metrics]`` setting that raises it.

Neither httpx nor prometheus_client is imported here: httpx only once an httpx client is made (see
:mod:`planner_tui.metrics.fetch`), prometheus_client only once a text needs the reference parser.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
from collections.abc import Collection, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from planner_tui.config.urls import redact_url
from planner_tui.metrics.exposition import ParseAbandoned, Sample, TooManySeries, parse_exposition
from planner_tui.metrics.exposition_layout import MAX_LAYOUT_TEXT, Parsed, TargetParser
from planner_tui.metrics.fetch import Fetcher, HttpxFetcher, RoutingFetcher, new_client
from planner_tui.metrics.http11 import DEFAULT_MAX_BODY, BodyTooLarge, Http11Pool, HttpProtocolError

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_SERIES",
    "Sample",
    "ScrapeResult",
    "Scraper",
    "new_client",
    "parse_exposition",
    "scrape",
]

#: the most sample lines read from one exposition (``[metrics] max_series``)
DEFAULT_MAX_SERIES = 50_000
#: bodies longer than this are parsed in a worker thread (shorter ones take a few ms on the loop)
INLINE_PARSE_BYTES = MAX_LAYOUT_TEXT
#: how long :meth:`Scraper.close` waits for its worker threads' work in progress (a parse ends at its
#: next piece once told to stop, a layout compile within ~0.5 s)
CLOSE_WAIT_S = 2.0


class ScrapeResult:
    """The outcome of scraping one URL. ``error`` is None exactly when ``ok``.

    ``parsed`` holds the exposition as read (with the target's layout and its values when the layout
    was reused); ``samples`` and :meth:`by_name` are made from it when asked for.
    """

    __slots__ = ("duration_s", "error", "ok", "parsed", "url")

    def __init__(
        self,
        url: str,
        ok: bool,
        error: str | None,
        samples: list[Sample] | None = None,
        duration_s: float = 0.0,
        parsed: Parsed | None = None,
    ) -> None:
        self.url = url
        self.ok = ok
        self.error = error
        self.duration_s = duration_s
        self.parsed = parsed if parsed is not None else Parsed(samples if samples is not None else [])

    @property
    def samples(self) -> list[Sample]:
        """The samples (only the wanted ones when the scrape named some)."""
        return self.parsed.samples

    def by_name(self) -> dict[str, list[Sample]]:
        """The samples grouped by name."""
        return self.parsed.by_name()

    def __repr__(self) -> str:
        shown = redact_url(self.url)
        return f"ScrapeResult(url={shown!r}, ok={self.ok}, error={self.error!r}, {len(self.samples)} samples)"


def _is_httpx(exc: BaseException, kind: str) -> bool:
    """Whether ``exc`` is an ``httpx.<kind>`` (``HTTPError``, ``TimeoutException`` ...).

    Without httpx imported no exception can be one: httpx is not imported to find out.
    """
    module = sys.modules.get("httpx")
    return module is not None and isinstance(exc, getattr(module, kind))


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, BodyTooLarge):
        if exc.size is not None:
            return f"body of {exc.size} bytes is over the limit of {exc.limit} bytes (raise metrics.max_body_bytes)"
        return (
            f"body over the limit of {exc.limit} bytes ({exc.received} bytes read, no Content-Length; "
            "raise metrics.max_body_bytes)"
        )
    if isinstance(exc, TimeoutError) or _is_httpx(exc, "TimeoutException"):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ConnectionRefusedError) or _is_httpx(exc, "ConnectError"):
        return f"cannot connect: {exc or 'connection refused'}"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}"


#: a NaN sample value (any case, as Python's float() reads it), or a word "nan" in a HELP line (then the
#: reader just does not prove absence: conservative)
_NAN_VALUE = re.compile(rb"(?i)[ \t][+-]?nan\b")


def _parse(
    body: bytes,
    wanted: Collection[str] | None,
    parser: TargetParser,
    max_series: int | None,
    stop: threading.Event | None = None,
) -> Parsed | str:
    """The parsed body, or why it cannot be used (an error line)."""
    try:
        parsed = parser.read(body.decode("utf-8", errors="replace"), wanted, max_series, stop)
        # the parsers leave NaN samples out; a reader proving a series absent needs to know there were none
        parsed.nan_free = _NAN_VALUE.search(body) is None
        return parsed
    except TooManySeries as exc:
        return f"exposition has more than {exc.limit} series (raise metrics.max_series)"
    except ParseAbandoned:
        raise
    except Exception as exc:  # any text at all may come: nothing in it may end the scrape
        return f"unparseable metrics: {exc}"[:500]


class Scraper:
    """Scrapes many endpoints each tick, keeping connections open between ticks.

    The one interface the collector scrapes through. Requests go through a
    :class:`~planner_tui.metrics.fetch.Fetcher`: by default the fast keep-alive client
    (:mod:`planner_tui.metrics.http11`) for plain ``http`` URLs and httpx (the reference) for the
    others; with ``client``, or ``fast_http=False``, everything goes through httpx. Texts are read by
    one :class:`~planner_tui.metrics.exposition_layout.TargetParser` per target (layout reuse, the fast
    parser, prometheus_client's parser as the reference). ``max_body_bytes`` and ``max_series`` bound
    what one target may make this process hold (see the module's docstring).

    The scraper owns its two worker threads (long parses; layout compiles), made when first needed
    and ended by :meth:`close`, which waits at most :data:`CLOSE_WAIT_S` for work in progress.
    """

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY,
        max_series: int | None = DEFAULT_MAX_SERIES,
        fast_http: bool = True,
    ) -> None:
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {max_body_bytes}")
        if max_series is not None and max_series < 1:
            raise ValueError(f"max_series must be >= 1, got {max_series}")
        self.max_body_bytes = max_body_bytes
        self.max_series = max_series
        reference = HttpxFetcher(client, max_body_bytes)
        self.fetcher: Fetcher = (
            RoutingFetcher(Http11Pool(max_body_bytes), reference) if client is None and fast_http else reference
        )
        self._parsers: dict[str, TargetParser] = {}  # url -> its parser (reuses the text's layout)
        #: url -> (stop, future) of a parse running in the worker thread (at most one per target)
        self._parsing: dict[str, tuple[threading.Event, asyncio.Future[Parsed | str]]] = {}
        self._parse_pool: ThreadPoolExecutor | None = None
        self._compile_pool: ThreadPoolExecutor | None = None

    def _parse_executor(self) -> ThreadPoolExecutor:
        if self._parse_pool is None:
            # one thread: long parses wait their turn (and are abandoned at their deadline) rather than
            # holding several long texts in memory at once
            self._parse_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner-tui-parse")
        return self._parse_pool

    def _compile(self, source: str) -> Future[re.Pattern[str]]:
        """Compile a layout's pattern in this scraper's compile thread (the event loop never waits)."""
        if self._compile_pool is None:
            self._compile_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="planner-tui-layouts")
        return self._compile_pool.submit(re.compile, source)

    def parser_for(self, url: str) -> TargetParser:
        """The parser of ``url``'s texts (made on first use; its layouts compile in this scraper's thread)."""
        parser = self._parsers.get(url)
        if parser is None:
            parser = self._parsers[url] = TargetParser(self._compile)
        return parser

    async def _one(self, url: str, timeout: float, deadline: float, wanted: Collection[str] | None) -> ScrapeResult:
        """Scrape ``url``, answered and parsed by ``deadline`` (loop time); ``timeout`` is for the messages."""
        started = time.perf_counter()
        loop = asyncio.get_running_loop()

        def failed(error: str) -> ScrapeResult:
            return ScrapeResult(url, False, error, [], time.perf_counter() - started)

        running = self._parsing.get(url)
        if running is not None:
            if not running[1].done():
                return failed("still parsing its previous exposition (abandoned, ending)")
            del self._parsing[url]
        try:
            status, body = await self.fetcher.get(url, max(0.0, deadline - loop.time()))
        except (TimeoutError, OSError, HttpProtocolError, asyncio.IncompleteReadError) as exc:
            return failed(_describe(exc, timeout))
        except Exception as exc:
            if not _is_httpx(exc, "HTTPError"):
                raise
            return failed(_describe(exc, timeout))
        if status >= 300:
            return failed(f"HTTP {status}")
        parser = self.parser_for(url)
        if len(body) <= INLINE_PARSE_BYTES:
            parsed = _parse(body, wanted, parser, self.max_series)
        else:
            stop = threading.Event()
            future = loop.run_in_executor(self._parse_executor(), _parse, body, wanted, parser, self.max_series, stop)
            future.add_done_callback(_retrieve)
            del body  # the worker holds the only reference: freed as soon as it is decoded
            self._parsing[url] = (stop, future)
            done, _ = await asyncio.wait({future}, timeout=max(0.0, deadline - loop.time()))
            if not done:
                stop.set()  # the parse ends at its next piece
                return failed(f"timed out after {timeout:g} s (parsing a long exposition)")
            del self._parsing[url]
            try:
                parsed = future.result()
            except ParseAbandoned:
                return failed(f"timed out after {timeout:g} s (parsing a long exposition)")
        if isinstance(parsed, str):
            return failed(parsed)
        return ScrapeResult(url, True, None, None, time.perf_counter() - started, parsed)

    async def scrape(
        self, urls: Sequence[str], timeout: float, concurrency: int, wanted: Collection[str] | None = None
    ) -> dict[str, ScrapeResult]:
        """One :class:`ScrapeResult` per distinct URL, at most ``concurrency`` at a time, each within ``timeout``.

        ``wanted`` keeps only samples of those names (the rest of each text is checked, not kept).
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        unique = list(dict.fromkeys(urls))
        results: dict[str, ScrapeResult] = {}
        pending = iter(unique)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout  # every target is done or given up by then: the tick keeps its pace

        async def worker() -> None:
            for url in pending:  # shared by the workers: each URL is taken once, by whichever is free
                if loop.time() >= deadline:
                    results[url] = ScrapeResult(
                        url, False, f"not scraped within {timeout:g} s (slow targets held every connection slot)"
                    )
                    continue
                results[url] = await self._one(url, timeout, deadline, wanted)

        # ``concurrency`` workers rather than a task per URL behind a semaphore: the same bound, less
        # bookkeeping per request (a tick scrapes dozens of targets)
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(unique)))))
        self.fetcher.retain(unique)  # a long run with replicas coming and going keeps no stale sockets
        if len(self._parsers) > len(unique):
            kept = set(unique)
            for url in [u for u in self._parsers if u not in kept]:
                self._parsers.pop(url).close()
                running = self._parsing.pop(url, None)
                if running is not None:
                    running[0].set()
        return {url: results[url] for url in unique}

    async def close(self) -> None:
        """Close the connections kept open and end the worker threads (bounded: see :data:`CLOSE_WAIT_S`).

        The scraper can be used again afterwards (it opens connections and threads anew).
        """
        await self.fetcher.close()
        running: list[asyncio.Future[Any]] = []
        for stop, future in self._parsing.values():
            stop.set()  # a parse still running in the worker thread ends at its next piece
            running.append(future)
        self._parsing.clear()
        for parser in self._parsers.values():
            compiling = parser.compiling
            parser.close()  # a compile not started yet is cancelled
            if compiling is not None and not compiling.cancelled():
                running.append(asyncio.wrap_future(compiling))
        self._parsers.clear()
        pools = [pool for pool in (self._parse_pool, self._compile_pool) if pool is not None]
        self._parse_pool = self._compile_pool = None
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)  # its thread ends after the work in progress
        if running:
            await asyncio.wait(running, timeout=CLOSE_WAIT_S)
            for future in running:
                if future.done():
                    _retrieve(future)
                else:
                    future.add_done_callback(_retrieve)


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Take an abandoned parse's outcome, so that asyncio does not report it as never retrieved."""
    if not future.cancelled():
        future.exception()


async def scrape(
    urls: Sequence[str], timeout: float, concurrency: int, client: httpx.AsyncClient | None = None
) -> dict[str, ScrapeResult]:
    """Scrape ``urls`` concurrently (at most ``concurrency`` at a time), each within ``timeout`` seconds.

    Returns one :class:`ScrapeResult` per distinct URL; never raises for a target that is down.
    With ``client`` every request goes through that httpx client; without one, connections are
    made here and closed afterwards (use a long-lived :class:`Scraper` to reuse them between ticks).
    """
    scraper = Scraper(client)
    try:
        return await scraper.scrape(urls, timeout, concurrency)
    finally:
        await scraper.close()
