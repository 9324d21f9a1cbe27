"""List, then watch, one kind of object in a thread of its own: the connector's view of the cluster.

A :class:`ResourceWatch` lists the objects once (``resourceVersion`` of the list), then watches
from that version; every event updates its objects and calls ``on_change`` (from the watch thread).
A watch the server ends (``timeout_seconds``) is resumed from the last version seen (bookmarks
keep it fresh); one the server answers with 410 Gone (the version was compacted away) lists again.
A failed request is retried with exponential backoff (0.5 s doubling to 10 s) and leaves ``error``
set until a request succeeds again, so the connector can show a degraded state. ``stop()`` shuts
the open response's socket, so the thread ends within a bounded time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.kubernetes.client import Resource
from planner_tui.connectors.kubernetes.errors import status_of

log = logging.getLogger(__name__)

BACKOFF_FIRST_S = 0.5
BACKOFF_CAP_S = 10.0
STOP_WAIT_S = 5.0


def response_lines(response: Any) -> Iterator[bytes]:
    """The lines of a streamed (chunked) HTTP response, as they arrive."""
    pending = b""
    for chunk in response.stream(amt=None, decode_content=False):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield from (line for line in lines if line.strip())
    if pending.strip():
        yield pending


def close_response(response: Any) -> None:
    """Unblock a reader of ``response`` from another thread and release it."""
    for step in ("shutdown", "close", "release_conn"):
        with contextlib.suppress(Exception):  # best effort: the socket may be gone already
            getattr(response, step)()


class ResourceWatch:
    """The current objects of one kind (a label or field selector narrows them), kept by a watch.

    ``list_fn(**params)`` returns a list object; ``watch_fn(**params)`` a raw streamed response.
    ``optional``: the resource may not exist in this cluster (a CRD not installed): a 404 on the
    first list leaves it empty (``missing``) and ends the thread instead of retrying.
    ``objects()`` is a copy of the objects by name; ``synced`` is set after the first list;
    ``error`` is the last failure (None while healthy); ``lists``, ``watches`` and ``expired``
    count list requests, watch requests and 410 answers.
    """

    def __init__(
        self,
        resource: Resource,
        list_fn: Callable[..., dict[str, Any]],
        watch_fn: Callable[..., Any],
        *,
        params: dict[str, Any],
        on_change: Callable[[], None],
        describe: Callable[[BaseException], ConnectorError],
        timeout_s: int = 300,
        optional: bool = False,
    ) -> None:
        self.resource = resource
        self._list_fn = list_fn
        self._watch_fn = watch_fn
        self._params = params
        self._on_change = on_change
        self._describe = describe
        self.timeout_s = timeout_s
        self.optional = optional
        self.missing = False
        self._objects: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._response: Any = None
        self._thread: threading.Thread | None = None
        self.synced = threading.Event()
        self.resource_version: str | None = None
        self.error: ConnectorError | None = None
        self.lists = 0
        self.watches = 0
        self.expired = 0
        self._relist = True

    # -- reading -------------------------------------------------------------------------------------
    def objects(self) -> dict[str, dict[str, Any]]:
        """The current objects by name (a copy)."""
        with self._lock:
            return dict(self._objects)

    def get(self, name: str) -> dict[str, Any] | None:
        """The object called ``name``, if it exists."""
        with self._lock:
            return self._objects.get(name)

    def put(self, obj: dict[str, Any]) -> None:
        """Record an object the connector just wrote (the answer of a patch), ahead of its event."""
        name = obj.get("metadata", {}).get("name")
        if name:
            with self._lock:
                self._objects[name] = obj
            self._on_change()

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the watch thread."""
        self._thread = threading.Thread(target=self._run, name=f"k8s-watch-{self.resource.resource}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = STOP_WAIT_S) -> bool:
        """Stop the thread (closing its open response); True when it ended within ``timeout_s``."""
        self._stopping.set()
        response = self._response
        if response is not None:
            close_response(response)
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout_s)
        return not thread.is_alive()

    def expire(self) -> None:
        """Forget the version: the next (re)watch lists first, as after a 410."""
        self._relist = True

    # -- the thread ------------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = BACKOFF_FIRST_S
        while not self._stopping.is_set():
            try:
                if self._relist:
                    self._list()
                self._watch()
                delay = BACKOFF_FIRST_S
            except Exception as exc:  # every failure is reported and retried
                if self._stopping.is_set():
                    break
                status = status_of(exc)
                if status == 410:
                    self._expired()
                    continue
                if status == 404 and self.optional and not self.synced.is_set():
                    self.missing = True
                    self.synced.set()
                    self._on_change()
                    return
                self.error = self._describe(exc)
                self._on_change()
                log.info("watch of %s failed (retrying in %.1f s): %s", self.resource.resource, delay, self.error)
                if self._stopping.wait(delay):
                    break
                delay = min(delay * 2, BACKOFF_CAP_S)

    def _expired(self) -> None:
        self.expired += 1
        self._relist = True
        log.info(
            "watch of %s expired (410 Gone at version %s): listing again", self.resource.resource, self.resource_version
        )

    def _list(self) -> None:
        self.lists += 1
        answer = self._list_fn(**self._params)
        objects = {o["metadata"]["name"]: o for o in answer.get("items") or [] if o.get("metadata", {}).get("name")}
        with self._lock:
            self._objects = objects
        self.resource_version = answer.get("metadata", {}).get("resourceVersion")
        self._relist = False
        self.error = None
        self.synced.set()
        self._on_change()

    def _watch(self) -> None:
        self.watches += 1
        response = self._watch_fn(
            resource_version=self.resource_version,
            timeout_seconds=self.timeout_s,
            allow_watch_bookmarks=True,
            _request_timeout=(3.0, self.timeout_s + 30.0),
            **self._params,
        )
        self._response = response
        try:
            if self._stopping.is_set():
                return
            if self.error is not None:
                self.error = None
                self._on_change()
            for line in response_lines(response):
                if not self._event(json.loads(line)):
                    return
        finally:
            self._response = None
            close_response(response)

    def _event(self, event: dict[str, Any]) -> bool:
        """Apply one watch event; False ends this watch (410: list again)."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            if obj.get("code") == 410:
                self._expired()
                return False
            raise ConnectorError(f"watch of {self.resource.qualified} failed: {obj.get('message') or obj}")
        meta = obj.get("metadata") or {}
        if meta.get("resourceVersion"):
            self.resource_version = meta["resourceVersion"]
        if kind == "BOOKMARK":
            return True
        name = meta.get("name")
        if not name:
            return True
        with self._lock:
            if kind == "DELETED":
                self._objects.pop(name, None)
            else:
                self._objects[name] = obj
        self._on_change()
        return True
