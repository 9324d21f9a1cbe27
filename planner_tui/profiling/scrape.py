"""The servers' own view of a sweep point: the frontend's and the measured workers' metrics, cumulative.

One scrape of the frontend and of every ready replica of the measured components gives their latency
histograms and request counters as they stand; the difference between two scrapes is what happened in
between (:mod:`.window`). Names are Dynamo's (``dynamo_frontend_*``) and vLLM's (``vllm:*``), which both
the simulated graph and a real Dynamo graph serve. A target that does not answer is noted, not fatal:
the client's own measurements still stand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from planner_tui.metrics.exposition import Sample, index_samples, parse_exposition
from planner_tui.metrics.rates import HistogramPoint

FRONTEND_TTFT = "dynamo_frontend_time_to_first_token_seconds"
FRONTEND_ITL = "dynamo_frontend_inter_token_latency_seconds"
FRONTEND_REQUESTS = "dynamo_frontend_requests_total"
WORKER_TTFT = "vllm:time_to_first_token_seconds"
WORKER_ITL = "vllm:inter_token_latency_seconds"
WORKER_REQUESTS = "dynamo_component_requests_total"

_HISTOGRAMS = (FRONTEND_TTFT, FRONTEND_ITL, WORKER_TTFT, WORKER_ITL)
WANTED = frozenset(
    [f"{h}{suffix}" for h in _HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")]
    + [FRONTEND_REQUESTS, WORKER_REQUESTS]
)
SCRAPE_TIMEOUT_S = 2.0
MAX_BODY_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class ServerSample:
    """Cumulative server-side figures at one instant (None / absent where a server has no such series)."""

    frontend_ttft: HistogramPoint | None = None
    frontend_itl: HistogramPoint | None = None
    frontend_requests: float | None = None  # finished successfully
    worker_ttft: Mapping[str, HistogramPoint] = field(default_factory=dict)  # component -> summed over replicas
    worker_itl: Mapping[str, HistogramPoint] = field(default_factory=dict)
    worker_requests: Mapping[str, float] = field(default_factory=dict)
    errors: tuple[str, ...] = ()


def _successes(samples: Sequence[Sample] | None) -> float | None:
    """A request counter's successful requests (its ``status="success"`` series when it has a status)."""
    if not samples:
        return None
    with_status = [s for s in samples if "status" in s.labels]
    if with_status:
        return sum(s.value for s in with_status if s.labels["status"] == "success")
    return sum(s.value for s in samples)


def _generate_only(samples: Sequence[Sample] | None) -> float | None:
    """``dynamo_component_requests_total`` of the ``generate`` endpoint (the one that carries requests)."""
    if not samples:
        return None
    chosen = [s for s in samples if s.labels.get("dynamo_endpoint", "generate") == "generate"]
    return sum(s.value for s in chosen)


class ServerScraper:
    """Scrapes the frontend and the measured workers with one loopback HTTP client (no proxy from the env)."""

    def __init__(self, frontend_url: str | None, workers: Mapping[str, Sequence[str]]) -> None:
        self.frontend_url = frontend_url
        self.workers = {name: tuple(urls) for name, urls in workers.items()}
        self._client = httpx.AsyncClient(timeout=SCRAPE_TIMEOUT_S, trust_env=False)

    async def close(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    async def _fetch(self, url: str) -> dict[str, list[Sample]] | str:
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as exc:
            return f"{url}: {type(exc).__name__}: {exc}"
        if response.status_code != 200:
            return f"{url}: HTTP {response.status_code}"
        if len(response.content) > MAX_BODY_BYTES:
            return f"{url}: metrics body over {MAX_BODY_BYTES} bytes"
        try:
            return index_samples(parse_exposition(response.text, WANTED))
        except ValueError as exc:
            return f"{url}: unreadable metrics: {exc}"

    async def sample(self) -> ServerSample:
        """Every target scraped concurrently."""
        targets: list[tuple[str | None, str]] = []
        if self.frontend_url:
            targets.append((None, self.frontend_url))
        targets += [(name, url) for name, urls in self.workers.items() for url in urls]
        answers = await asyncio.gather(*(self._fetch(url) for _, url in targets))
        errors: list[str] = []
        frontend: dict[str, list[Sample]] = {}
        per_worker: dict[str, list[dict[str, list[Sample]]]] = {}
        for (component, _url), answer in zip(targets, answers, strict=True):
            if isinstance(answer, str):
                errors.append(answer)
            elif component is None:
                frontend = answer
            else:
                per_worker.setdefault(component, []).append(answer)
        ttft: dict[str, HistogramPoint] = {}
        itl: dict[str, HistogramPoint] = {}
        requests: dict[str, float] = {}
        for component, scrapes in per_worker.items():
            for name, into in ((WORKER_TTFT, ttft), (WORKER_ITL, itl)):
                points = [p for p in (HistogramPoint.from_samples(s, name) for s in scrapes) if p is not None]
                if points:
                    into[component] = HistogramPoint.merge(points)
            counts = [c for c in (_generate_only(s.get(WORKER_REQUESTS)) for s in scrapes) if c is not None]
            if counts:
                requests[component] = sum(counts)
        return ServerSample(
            frontend_ttft=HistogramPoint.from_samples(frontend, FRONTEND_TTFT),
            frontend_itl=HistogramPoint.from_samples(frontend, FRONTEND_ITL),
            frontend_requests=_successes(frontend.get(FRONTEND_REQUESTS)),
            worker_ttft=ttft,
            worker_itl=itl,
            worker_requests=requests,
            errors=tuple(errors),
        )
