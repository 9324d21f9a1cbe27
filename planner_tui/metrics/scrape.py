"""Scraping Prometheus text endpoints: many at once, each with its own timeout, bounded concurrency.

A target that does not answer in time, answers with an error status or with text that does not
parse gives a :class:`ScrapeResult` with ``ok=False`` and an ``error`` saying why; it never raises
and never stalls the other targets.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Sequence

import httpx

from planner_tui.metrics.exposition import Sample, parse_exposition
from planner_tui.metrics.exposition_layout import Parsed, TargetParser
from planner_tui.metrics.http11 import Http11Pool, HttpProtocolError, UnsupportedUrl

__all__ = ["Sample", "ScrapeResult", "Scraper", "new_client", "parse_exposition", "scrape"]


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
        return f"ScrapeResult(url={self.url!r}, ok={self.ok}, error={self.error!r}, {len(self.samples)} samples)"


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError):
        return f"cannot connect: {exc or 'connection refused'}"
    if isinstance(exc, OSError):
        return f"cannot connect: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _result(
    url: str, status: int, body: bytes, started: float, wanted: Collection[str] | None, parser: TargetParser
) -> ScrapeResult:
    if status >= 300:
        return ScrapeResult(url, False, f"HTTP {status}", [], time.perf_counter() - started)
    try:
        parsed = parser.read(body.decode("utf-8", errors="replace"), wanted)
    except (ValueError, TypeError, IndexError) as exc:
        return ScrapeResult(url, False, f"unparseable metrics: {exc}", [], time.perf_counter() - started)
    return ScrapeResult(url, True, None, None, time.perf_counter() - started, parsed)


def new_client(concurrency: int = 32) -> httpx.AsyncClient:
    """An httpx client suited to scraping: pooled connections, no proxy settings from the environment."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, trust_env=False)


class Scraper:
    """Scrapes many endpoints each tick, keeping connections open between ticks.

    Plain ``http`` targets use a small keep-alive HTTP/1.1 client (:mod:`planner_tui.metrics.http11`),
    which costs a fraction of a general-purpose client per request; others (``https``) use httpx.
    Pass ``client`` to send everything through that httpx client instead.
    """

    def __init__(self, client: httpx.AsyncClient | None = None) -> None:
        self._client = client
        self._owns_client = False
        self._pool = None if client is not None else Http11Pool()
        self._parsers: dict[str, TargetParser] = {}  # url -> its parser (reuses the text's layout)

    async def _get(self, url: str, timeout: float) -> tuple[int, bytes]:
        """``(status, body)`` within ``timeout`` (the whole exchange: connect, request, body)."""
        if self._pool is not None:
            try:
                return await self._pool.get(url, timeout)
            except UnsupportedUrl:
                pass
        if self._client is None:
            self._client = new_client()
            self._owns_client = True
        async with asyncio.timeout(timeout):
            response = await self._client.get(url, timeout=timeout)
        return response.status_code, response.content

    async def _one(self, url: str, timeout: float, wanted: Collection[str] | None) -> ScrapeResult:
        started = time.perf_counter()
        try:
            status, body = await self._get(url, timeout)
        except (httpx.HTTPError, TimeoutError, OSError, HttpProtocolError, asyncio.IncompleteReadError) as exc:
            return ScrapeResult(url, False, _describe(exc, timeout), [], time.perf_counter() - started)
        parser = self._parsers.get(url)
        if parser is None:
            parser = self._parsers[url] = TargetParser()
        return _result(url, status, body, started, wanted, parser)

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

        async def worker() -> None:
            for url in pending:  # shared by the workers: each URL is taken once, by whichever is free
                results[url] = await self._one(url, timeout, wanted)

        # ``concurrency`` workers rather than a task per URL behind a semaphore: the same bound, less
        # bookkeeping per request (a tick scrapes dozens of targets)
        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(unique)))))
        if self._pool is not None:
            self._pool.retain(unique)  # a long run with replicas coming and going keeps no stale sockets
        if len(self._parsers) > len(unique):
            kept = set(unique)
            for url in [u for u in self._parsers if u not in kept]:
                self._parsers.pop(url).close()
        return {url: results[url] for url in unique}

    async def close(self) -> None:
        """Close the connections kept open (and the httpx client made here)."""
        if self._pool is not None:
            await self._pool.close()
        for parser in self._parsers.values():
            parser.close()
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None


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
