"""Scraping Prometheus text endpoints: many at once, each with its own timeout, bounded concurrency.

A target that does not answer in time, answers with an error status or with text that does not
parse gives a :class:`ScrapeResult` with ``ok=False`` and an ``error`` saying why; it never raises
and never stalls the other targets.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, slots=True)
class Sample:
    """One exposition sample: ``name`` as written (``foo_total``, ``foo_bucket`` ...), labels, value."""

    name: str
    labels: dict[str, str]
    value: float


@dataclass(frozen=True, slots=True)
class ScrapeResult:
    """The outcome of scraping one URL. ``error`` is None exactly when ``ok``."""

    url: str
    ok: bool
    error: str | None
    samples: list[Sample] = field(default_factory=list)
    duration_s: float = 0.0


def parse_exposition(text: str) -> list[Sample]:
    """Samples of a Prometheus text exposition. Raises ValueError for text that does not parse."""
    samples: list[Sample] = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            value = float(sample.value)
            if math.isnan(value):
                continue
            samples.append(Sample(sample.name, dict(sample.labels), value))
    return samples


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect: {exc or 'connection refused'}"
    return f"{type(exc).__name__}: {exc}"


async def _scrape_one(client: httpx.AsyncClient, url: str, timeout: float, gate: asyncio.Semaphore) -> ScrapeResult:
    async with gate:
        start = time.perf_counter()
        try:
            # wait_for bounds the whole exchange; httpx's timeout applies per phase.
            response = await asyncio.wait_for(client.get(url, timeout=timeout), timeout)
        except (httpx.HTTPError, TimeoutError, OSError) as exc:
            return ScrapeResult(url, False, _describe(exc, timeout), [], time.perf_counter() - start)
        if response.status_code >= 300:
            return ScrapeResult(url, False, f"HTTP {response.status_code}", [], time.perf_counter() - start)
        try:
            samples = parse_exposition(response.text)
        except (ValueError, TypeError, IndexError) as exc:
            return ScrapeResult(url, False, f"unparseable metrics: {exc}", [], time.perf_counter() - start)
        return ScrapeResult(url, True, None, samples, time.perf_counter() - start)


def new_client(concurrency: int = 32) -> httpx.AsyncClient:
    """An HTTP client suited to scraping: pooled connections, no proxy settings from the environment."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, trust_env=False)


async def scrape(
    urls: Sequence[str], timeout: float, concurrency: int, client: httpx.AsyncClient | None = None
) -> dict[str, ScrapeResult]:
    """Scrape ``urls`` concurrently (at most ``concurrency`` at a time), each within ``timeout`` seconds.

    Returns one :class:`ScrapeResult` per distinct URL. Pass a long-lived ``client`` to reuse
    connections between ticks; without one a client is made and closed here.
    """
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    unique = list(dict.fromkeys(urls))
    if not unique:
        return {}
    gate = asyncio.Semaphore(concurrency)
    owned = client is None
    http = client if client is not None else new_client(concurrency)
    try:
        results = await asyncio.gather(*(_scrape_one(http, url, timeout, gate) for url in unique))
    finally:
        if owned:
            await http.aclose()
    return {result.url: result for result in results}
