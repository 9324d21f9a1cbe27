"""Idempotent scale requests: a request id seen before is not applied again; it gets the first answer.

A caller names a request with the ``Idempotency-Key`` header (1 to 128 characters: letters, digits
and ``._:-``). Keys are scoped to the caller (its namespace), so two callers never share one. The
first request with a key runs; a repeat while it runs waits for it, and a repeat after it gets the
same answer (with ``Idempotent-Replayed: true``). A key reused with a different request body is
refused (HTTP 422): that is a bug in the caller, and applying either would be a guess. Answers are
kept for ``ttl_s`` and at most ``max_entries`` of them (the oldest forgotten first).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
KEY_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

T = TypeVar("T")


class KeyReused(Exception):
    """The key was first used for a different request."""


def fingerprint(body: bytes) -> str:
    """What identifies a request's content (the canonical JSON of its validated body)."""
    return hashlib.sha256(body).hexdigest()


@dataclass(slots=True)
class _Entry(Generic[T]):
    fingerprint: str
    future: asyncio.Future[T]
    stored_at: float


class IdempotencyCache(Generic[T]):
    """Runs each (caller, key) once and remembers its answer."""

    def __init__(
        self, ttl_s: float = 3600.0, max_entries: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[tuple[str, str], _Entry[T]] = OrderedDict()

    def _expire(self, now: float) -> None:
        while self._entries:
            key, entry = next(iter(self._entries.items()))
            if now - entry.stored_at <= self.ttl_s and len(self._entries) <= self.max_entries:
                return
            if not entry.future.done():  # never forget a request still running
                return
            del self._entries[key]

    async def run(self, caller: str, key: str, print_: str, work: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """The answer of ``work()`` for this key, and whether it is a replay of an earlier one.

        Raises :class:`KeyReused` when the key was used for a request with another fingerprint.
        """
        now = self._clock()
        self._expire(now)
        entry = self._entries.get((caller, key))
        if entry is not None:
            if entry.fingerprint != print_:
                raise KeyReused(
                    f"{HEADER} {key!r} was already used for a different request; use a new key for a new request"
                )
            return await asyncio.shield(entry.future), True
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._entries[(caller, key)] = _Entry(print_, future, now)
        try:
            result = await work()
        except BaseException as exc:
            # nothing to replay: a later repeat runs again (the failure was not an answer)
            del self._entries[(caller, key)]
            if not future.done():
                future.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
                future.exception()  # retrieved: no "never retrieved" warning when nobody waits
            raise
        future.set_result(result)
        return result, False
