"""Pod logs through the API server: the last lines of a component's pods, and following them.

Every line is asked for with its kubelet timestamp, so lines of several pods merge by time and keep
the pod's name as their prefix. Following streams each pod's log in a thread of its own; pods that
appear while following (a scale-up, a pod replaced) are followed from their first line, and a
restarted container from its new first line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from planner_tui.connectors.kubernetes.client import POD_LOGS, REQUEST_TIMEOUT, KubeApi
from planner_tui.connectors.kubernetes.errors import explain
from planner_tui.connectors.kubernetes.pods import parse_time, restarts
from planner_tui.connectors.kubernetes.target import Target
from planner_tui.connectors.kubernetes.watch import close_response, response_lines
from planner_tui.model.logs import LogLine

log = logging.getLogger(__name__)

LINE_MAX = 16 * 1024
STOP_WAIT_S = 3.0
#: (connect, read) seconds of a log stream: a log quiet for longer is asked for again
FOLLOW_TIMEOUT = (3.0, 300.0)


def parse_line(component: str, pod: str, raw: bytes, gone: bool = False) -> LogLine:
    """A line as the kubelet sends it with ``timestamps=true``: ``2024-05-01T10:00:00.123456789Z text``."""
    text = raw[:LINE_MAX].decode("utf-8", "replace").rstrip("\r\n")
    stamp, _, rest = text.partition(" ")
    when = parse_time(stamp)
    if when is None:
        when, rest = time.time(), text
    return LogLine(component=component, replica=pod, timestamp=when, text=rest, gone=gone)


def has_started(pod: Mapping[str, Any], container: str | None) -> bool:
    """True once the container ran (a log can be read): running, or terminated at least once."""
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if container is not None and status.get("name") != container:
            continue
        state, last = status.get("state") or {}, status.get("lastState") or {}
        if state.get("running") or state.get("terminated") or last.get("terminated"):
            return True
    return False


def read_tail(api: KubeApi, component: str, pod: Mapping[str, Any], container: str | None, lines: int) -> list[LogLine]:
    """The last ``lines`` lines of one pod (blocking)."""
    name = str(pod["metadata"]["name"])
    try:
        response = api.pod_log(
            name, container=container, tail_lines=lines, timestamps=True, _request_timeout=REQUEST_TIMEOUT
        )
        body = response.data
    except Exception as exc:
        raise explain(exc, "get", POD_LOGS, f"the log of pod {name}", api.server, api.namespace) from None
    return [parse_line(component, name, raw) for raw in body.split(b"\n") if raw.strip()]


class PodLogFollower:
    """Streams one pod's log (``follow=true``) in a thread, handing each line to ``deliver``."""

    def __init__(
        self,
        api: KubeApi,
        component: str,
        pod: str,
        container: str | None,
        deliver: Callable[[LogLine], None],
        *,
        from_start: bool,
    ) -> None:
        self.api = api
        self.component = component
        self.pod = pod
        self.container = container
        self.deliver = deliver
        self.from_start = from_start
        self.error: str | None = None
        self._response: Any = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"k8s-log-{pod}", daemon=True)

    def start(self) -> None:
        """Start streaming."""
        self._thread.start()

    @property
    def done(self) -> bool:
        """True once the stream ended (the container exited, the pod went away, an error)."""
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Close the stream (the thread then ends)."""
        self._stopping.set()
        if self._response is not None:
            close_response(self._response)

    def join(self, timeout_s: float) -> None:
        """Wait (bounded) for the thread."""
        self._thread.join(timeout_s)

    def _run(self) -> None:
        tail_from_now = not self.from_start
        while not self._stopping.is_set():
            params: dict[str, Any] = {"follow": True, "timestamps": True, "_request_timeout": FOLLOW_TIMEOUT}
            if tail_from_now:
                params["tail_lines"] = 0
            try:
                self._response = self.api.pod_log(self.pod, container=self.container, **params)
                if self._stopping.is_set():
                    return
                for raw in response_lines(self._response):
                    self.deliver(parse_line(self.component, self.pod, raw))
                return  # the log ended: the container exited (a restart is followed anew)
            except Exception as exc:  # the follower reports, the screen goes on
                if self._stopping.is_set():
                    return
                if _is_read_timeout(exc):  # a quiet log: ask again from now on
                    tail_from_now = True
                    continue
                self.error = str(
                    explain(exc, "get", POD_LOGS, f"the log of pod {self.pod}", self.api.server, self.api.namespace)
                )
                log.info("following %s: %s", self.pod, self.error)
                return
            finally:
                if self._response is not None:
                    close_response(self._response)
                    self._response = None


def _is_read_timeout(exc: BaseException) -> bool:
    import urllib3

    return isinstance(exc, urllib3.exceptions.ReadTimeoutError) or isinstance(
        getattr(exc, "reason", None), urllib3.exceptions.ReadTimeoutError
    )


async def follow_logs(
    api: KubeApi, target: Target, component: str, wait_change: Callable[[float], Any]
) -> AsyncIterator[LogLine]:
    """New lines of every pod of ``component``, as written, until cancelled.

    ``wait_change(timeout_s)`` waits for the next change the watches see (a pod added, started,
    restarted). Pods present at the start are followed from now; later ones from their first line.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[LogLine] = asyncio.Queue()
    followers: dict[tuple[str, int], PodLogFollower] = {}
    first = True

    def deliver(line: LogLine) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, line)

    def refresh() -> None:
        for pod in target.pods_of(component):
            name, container = str(pod["metadata"]["name"]), target.log_container(pod)
            key = (name, restarts(pod))
            if key in followers or not has_started(pod, container):
                continue
            restarted = any(k[0] == name for k in followers)
            follower = PodLogFollower(api, component, name, container, deliver, from_start=not first or restarted)
            followers[key] = follower
            follower.start()

    try:
        while True:
            refresh()
            first = False
            if queue.empty():
                getter = asyncio.ensure_future(queue.get())
                changed = asyncio.ensure_future(wait_change(5.0))
                done, _ = await asyncio.wait({getter, changed}, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if getter not in done:
                    getter.cancel()
                    continue
                yield getter.result()
            while not queue.empty():
                yield queue.get_nowait()
    finally:
        for follower in followers.values():
            follower.stop()
        live = [f for f in followers.values() if not f.done]
        if live:

            def join_all() -> None:
                for follower in live:
                    follower.join(STOP_WAIT_S)

            await asyncio.to_thread(join_all)
