"""Fetching scrape targets: one interface, a reference implementation (httpx) and one fast path.

:class:`Fetcher` is what the :class:`~planner_tui.metrics.scrape.Scraper` uses to GET a target:
``(status, body)`` within a timeout and a body cap. Two implementations:

- :class:`HttpxFetcher`, the reference: httpx, for every URL (``https``, compression, credentials in
  the URL sent as Basic auth, never in the Host header);
- :class:`~planner_tui.metrics.http11.Http11Pool`, the fast path for plain ``http`` URLs without
  credentials: ~30 µs of CPU per request against httpx's ~0.5-0.9 ms (at 64 replicas scraped every
  second: 0.2% of a core instead of 5%; ``benchmarks/bench_scrape_paths.py``). It refuses any other
  URL with :class:`~planner_tui.metrics.http11.UnsupportedUrl`.

:class:`RoutingFetcher` sends each URL to the fast path when it takes it, else to the reference.
``tests/metrics/test_fetch_equivalence.py`` checks that both answer the same status, body and error
kind for the same responses of a real loopback server (property-based).

httpx (with httpcore, ~8 MiB and ~70 ms to import) is imported only when an httpx client is made
(:func:`new_client`), so a process that never fetches through it never loads it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from planner_tui.metrics.http11 import DEFAULT_MAX_BODY, BodyTooLarge, Http11Pool, UnsupportedUrl

if TYPE_CHECKING:
    import httpx

__all__ = ["Fetcher", "HttpxFetcher", "RoutingFetcher", "new_client"]


class Fetcher(Protocol):
    """GETs scrape targets, keeping connections open between calls."""

    async def get(self, url: str, timeout: float) -> tuple[int, bytes]:
        """``(status, body)`` of ``GET url`` within ``timeout`` seconds (connect, request and body).

        Raises :class:`~planner_tui.metrics.http11.BodyTooLarge` for a body over the fetcher's cap,
        TimeoutError, OSError or httpx.HTTPError (cannot connect, reset),
        :class:`~planner_tui.metrics.http11.HttpProtocolError` or asyncio.IncompleteReadError (an
        answer that is not valid HTTP or ends too soon).
        """
        ...

    def retain(self, urls: Iterable[str]) -> None:
        """Drop kept connections to every target but those of ``urls``."""
        ...

    async def close(self) -> None:
        """Close every connection this fetcher opened."""
        ...


def new_client(concurrency: int = 32) -> httpx.AsyncClient:
    """An httpx client suited to scraping: pooled connections, no proxy settings from the environment."""
    import httpx  # here, not at the top: only a process that uses httpx pays for importing it

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, trust_env=False)


class HttpxFetcher:
    """The reference :class:`Fetcher`: httpx, with the body capped at ``max_body`` bytes (decoded:
    a compressed body is capped as it unpacks). ``client`` is used as given (and not closed here);
    without one, one is made on first use and closed by :meth:`close`."""

    def __init__(self, client: httpx.AsyncClient | None = None, max_body: int = DEFAULT_MAX_BODY) -> None:
        if max_body < 1:
            raise ValueError(f"max_body must be >= 1 byte, got {max_body}")
        self.max_body = max_body
        self._client = client
        self._owns_client = client is None

    async def get(self, url: str, timeout: float) -> tuple[int, bytes]:
        """See :meth:`Fetcher.get`."""
        if self._client is None:
            self._client = new_client()
        limit = self.max_body
        async with asyncio.timeout(timeout), self._client.stream("GET", url, timeout=timeout) as response:
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > limit:
                raise BodyTooLarge(limit, int(length), 0)
            chunks: list[bytes] = []
            received = 0
            async for chunk in response.aiter_bytes():
                received += len(chunk)
                if received > limit:
                    raise BodyTooLarge(limit, None, received)
                chunks.append(chunk)
            return response.status_code, b"".join(chunks)

    def retain(self, urls: Iterable[str]) -> None:
        """Nothing to do: httpx's pool ends idle connections on its own."""

    async def close(self) -> None:
        """Close the client made here (one given to the constructor stays open)."""
        client, self._client = self._client, None
        if client is not None and self._owns_client:
            await client.aclose()


class RoutingFetcher:
    """The fast path for the URLs it takes, the reference for the others (see the module's docstring)."""

    def __init__(self, fast: Http11Pool, reference: HttpxFetcher) -> None:
        self.fast = fast
        self.reference = reference

    async def get(self, url: str, timeout: float) -> tuple[int, bytes]:
        """See :meth:`Fetcher.get`."""
        try:
            return await self.fast.get(url, timeout)
        except UnsupportedUrl:
            return await self.reference.get(url, timeout)

    def retain(self, urls: Iterable[str]) -> None:
        """See :meth:`Fetcher.retain`."""
        self.fast.retain(urls)

    async def close(self) -> None:
        """Close both paths' connections."""
        await self.fast.close()
        await self.reference.close()
