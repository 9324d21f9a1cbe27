"""Load on an OpenAI-compatible frontend (a real Dynamo frontend): clients streaming completions back to back.

A load level is a number of clients (closed loop). Each sends ``POST /v1/completions`` with
``stream: true`` and a prompt of the requested length, asks for exactly the requested output tokens
(``max_tokens`` with ``min_tokens`` and ``ignore_eos``, which Dynamo and vLLM honour), and measures
its own TTFT (request sent to the first streamed token) and ITL (the mean gap between the following
tokens, from the token count in the final ``usage``). The model is the first one ``GET /v1/models``
lists unless one is given.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import httpx

from planner_tui.profiling.records import LoadKind
from planner_tui.profiling.scrape import ServerScraper
from planner_tui.profiling.window import RequestRecord, Sample

REQUEST_TIMEOUT_S = 120.0
READY_TIMEOUT_S = 60.0
READY_POLL_S = 0.2  # another process's routing table: no event to wait on but its answers
STOP_TIMEOUT_S = 30.0
#: a word most tokenizers read as one token; a prompt of N of them is about N tokens
PROMPT_WORD = "hello"


class FrontendError(Exception):
    """The frontend cannot be used for profiling (no model, every request refused); the message says why."""


class OpenAILoad:
    """A :class:`~.driver.LoadDriver` of ``level`` streaming clients against ``base_url``."""

    kind = LoadKind.CONCURRENCY

    def __init__(self, base_url: str, scraper: ServerScraper, model: str | None = None, max_clients: int = 256) -> None:
        self.base_url = base_url.rstrip("/")
        self.scraper = scraper
        self.model = model
        self.records: list[RequestRecord] = []
        self.errors: Counter[str] = Counter()
        self._client = httpx.AsyncClient(
            timeout=REQUEST_TIMEOUT_S,
            trust_env=False,
            limits=httpx.Limits(max_connections=max_clients + 4, max_keepalive_connections=max_clients + 4),
        )
        self._level = 0
        self._isl = 1
        self._osl = 1
        self._clients: list[asyncio.Task[None]] = []
        self._sent = 0
        self._first = 0
        self._completed = 0
        self._failed = 0
        self._in_flight = 0
        self._awaiting = 0
        self._prompt_tokens = 0
        self._output_tokens = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        """Find the model and wait until the frontend answers one completion (workers registered)."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                if self.model is None:
                    response = await self._client.get(f"{self.base_url}/v1/models", timeout=5.0)
                    models = response.json().get("data", []) if response.status_code == 200 else []
                    if models:
                        self.model = str(models[0]["id"])
                    else:
                        last = f"GET /v1/models: {response.status_code} {response.text[:120]!r}"
                if self.model is not None:
                    record = await self._one(4, 2)
                    if isinstance(record, RequestRecord):
                        return
                    last = record
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
                last = f"{type(exc).__name__}: {exc}"
            await asyncio.sleep(READY_POLL_S)
        raise FrontendError(f"{self.base_url} did not answer a streamed completion in {READY_TIMEOUT_S:.0f} s: {last}")

    async def apply(self, level: float, isl: int, osl: int) -> None:
        """``level`` clients from now on; extra clients stop after their current request."""
        self._level, self._isl, self._osl = round(level), isl, osl
        self._clients = [t for t in self._clients if not t.done()]
        while len(self._clients) < self._level:
            index = len(self._clients)
            self._clients.append(asyncio.create_task(self._client_loop(index), name=f"profile-client-{index}"))

    async def sample(self) -> Sample:
        """The clients' counts now (real seconds), with the servers' metrics."""
        server = await self.scraper.sample()
        return Sample(
            t=time.monotonic(),
            sent=self._sent,
            first_tokens=self._first,
            completed=self._completed,
            failed=self._failed,
            in_flight=self._in_flight,
            awaiting_first=self._awaiting,
            prompt_tokens=self._prompt_tokens,
            output_tokens=self._output_tokens,
            client_done=len(self.records),
            server=server,
        )

    def real_seconds(self, clock_seconds: float) -> float:
        """The clients' clock is real time."""
        return clock_seconds

    async def idle(self, timeout_s: float) -> bool:
        """No client sends again; wait for their requests to finish."""
        self._level = 0
        pending = [t for t in self._clients if not t.done()]
        if pending:
            _done, still = await asyncio.wait(pending, timeout=timeout_s)
            if still:
                return False
        self._clients = []
        return True

    async def close(self) -> None:
        """Stop the clients (cancelled after a bounded wait) and close the HTTP client."""
        try:
            if not await self.idle(STOP_TIMEOUT_S):
                for task in self._clients:
                    task.cancel()
                await asyncio.wait(self._clients, timeout=5.0)
        finally:
            await self._client.aclose()

    # -- requests ----------------------------------------------------------------------------------
    async def _client_loop(self, index: int) -> None:
        while index < self._level:
            result = await self._one(self._isl, self._osl, counted=True)
            if isinstance(result, RequestRecord):
                self.records.append(result)
            else:
                self.errors[result] += 1

    def _body(self, isl: int, osl: int) -> dict[str, object]:
        return {
            "model": self.model,
            "prompt": " ".join([PROMPT_WORD] * max(1, isl)),
            "max_tokens": osl,
            "min_tokens": osl,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }

    async def _one(self, isl: int, osl: int, counted: bool = False) -> RequestRecord | str:
        """One streamed completion: its record, or why it failed."""
        if counted:
            self._sent += 1
            self._in_flight += 1
            self._awaiting += 1
        started = time.monotonic()
        first: float | None = None
        last = started
        chunks = 0
        usage: dict[str, int] = {}
        error: str | None = None
        try:
            async with self._client.stream("POST", f"{self.base_url}/v1/completions", json=self._body(isl, osl)) as r:
                if r.status_code != 200:
                    error = f"HTTP {r.status_code}: {(await r.aread())[:160].decode(errors='replace')}"
                else:
                    async for line in r.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        data = line[5:].strip()
                        if data == "[DONE]":
                            break
                        chunk = json.loads(data)
                        if chunk.get("usage"):
                            usage = chunk["usage"]
                        if chunk.get("choices"):
                            now = time.monotonic()
                            if first is None:
                                first = now
                                if counted:
                                    self._first += 1
                                    self._awaiting -= 1
                                    self._prompt_tokens += int(usage.get("prompt_tokens", isl) or isl)
                            last = now
                            chunks += 1
        except (httpx.HTTPError, ValueError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if counted:
                self._in_flight -= 1
                if first is None:
                    self._awaiting -= 1
        if error is None and first is None:
            error = "the stream ended without a token"
        if error is not None:
            if counted:
                self._failed += 1
            return error
        assert first is not None
        tokens = int(usage.get("completion_tokens") or chunks)
        if counted:
            self._completed += 1
            self._output_tokens += tokens
        itl = (last - first) / (tokens - 1) if tokens > 1 and last > first else None
        prompt = int(usage.get("prompt_tokens") or isl)
        return RequestRecord(ttft_s=first - started, itl_s=itl, prompt_tokens=prompt, output_tokens=tokens)
