"""A stand-in kubelet that serves container logs to the real API server's log proxy.

``GET /api/v1/namespaces/{ns}/pods/{pod}/log`` on kube-apiserver looks up the pod's node, then opens
``https://{node InternalIP}:{daemonEndpoints.kubeletEndpoint.Port}/containerLogs/{ns}/{pod}/{container}``
with its kubelet client certificate and checks the kubelet's certificate against
``--kubelet-certificate-authority``. :class:`FakeKubelet` is that HTTPS endpoint on 127.0.0.1: its
certificate comes from the cluster's CA, it accepts only clients with a certificate from that CA (so a
log line a test reads went through the API server), and it registers itself as a Node (``node-1``).

Tests append lines with :meth:`FakeKubelet.write`; followers (``follow=true``) receive them as they are
written, until :meth:`FakeKubelet.end` or :meth:`FakeKubelet.close`. Query parameters honoured:
``tailLines``, ``follow``, ``timestamps``, ``sinceSeconds``, ``limitBytes``, ``previous``.

Like a real kubelet, a container the pod's status shows as waiting answers 400 ``container "c" in pod
"p" is waiting to start: REASON``; a pod without container statuses is served anyway (simpler for
tests that do not care about status).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import select
import ssl
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

if TYPE_CHECKING:
    from tests.k8s.cluster import KubeCluster

_FOLLOW_POLL_S = 0.2


def rfc3339nano(moment: dt.datetime) -> str:
    """The kubelet's timestamp format (``2024-01-02T03:04:05.123456000Z``)."""
    moment = moment.astimezone(dt.UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond:06d}000Z"


@dataclass
class _Stream:
    """The log of one container (or of every container of a pod when written without a name)."""

    lines: list[tuple[dt.datetime, str]] = field(default_factory=list)
    ended: bool = False


class FakeKubelet:
    """An HTTPS kubelet log endpoint on 127.0.0.1, registered as Node ``node``.

    ``FakeKubelet(cluster).start()`` ... ``close()``; or use it as a context manager.
    """

    def __init__(self, cluster: KubeCluster, node: str = "node-1") -> None:
        self.cluster = cluster
        self.node = node
        self.port = 0
        self._streams: dict[tuple[str, str, str | None, bool], _Stream] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        #: every request path the kubelet answered (with its query), oldest first
        self.requests: list[str] = []

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FakeKubelet:
        """Listen on a free loopback port and register (or update) the Node."""
        cert, key = self.cluster.issue_cert(f"kubelet-{self.node}")
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        context.load_verify_locations(cafile=str(self.cluster.ca_cert))
        context.verify_mode = ssl.CERT_REQUIRED  # only the API server (a client cert from the CA) gets in
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self.port = int(server.server_address[1])
        self._thread = threading.Thread(target=server.serve_forever, name=f"fake-kubelet-{self.node}", daemon=True)
        self._thread.start()
        try:
            self.register()
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> FakeKubelet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def register(self) -> None:
        """Create the Node (or update it) with this kubelet's address, port and a Ready condition."""
        from kubernetes import client as kube

        api = kube.CoreV1Api(self.cluster.admin_client())
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.node, "labels": {"kubernetes.io/hostname": self.node}},
        }
        try:
            api.create_node(node)
        except kube.ApiException as exc:
            if exc.status != 409:
                raise
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        current = api.read_node(self.node)
        body = api.api_client.sanitize_for_serialization(current)
        body["status"] = {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": self.node}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "fake kubelet is posting ready status",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.20.2",
                "kubeProxyVersion": "v1.20.2",
                "operatingSystem": "linux",
                "architecture": "amd64",
                "containerRuntimeVersion": "fake://0",
                "osImage": "planner-tui test",
                "kernelVersion": "",
                "machineID": "",
                "systemUUID": "",
                "bootID": "",
            },
        }
        api.replace_node_status(self.node, body)

    def close(self) -> None:
        """Stop serving; followers' streams end (bounded: each notices within 0.2 s)."""
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    # --- what tests call ------------------------------------------------------------------------------

    def write(
        self,
        namespace: str,
        pod: str,
        line: str,
        container: str | None = None,
        previous: bool = False,
        at: dt.datetime | None = None,
    ) -> None:
        """Append one line to a pod's log (every container's, unless ``container`` is given).

        ``previous=True`` writes the log of the container's previous instance (``?previous=true``).
        """
        text = line.rstrip("\n")
        if "\n" in text:
            raise ValueError("write() takes one line; call it once per line")
        with self._changed:
            stream = self._streams.setdefault((namespace, pod, container, previous), _Stream())
            stream.lines.append((at or dt.datetime.now(dt.UTC), text))
            self._changed.notify_all()

    def write_lines(self, namespace: str, pod: str, lines: Iterable[str], container: str | None = None) -> None:
        """Append several lines (one notification per line, as a program writing them would)."""
        for line in lines:
            self.write(namespace, pod, line, container)

    def end(self, namespace: str, pod: str, container: str | None = None) -> None:
        """End the log (the container exited): followers' streams finish after the last line."""
        with self._changed:
            self._streams.setdefault((namespace, pod, container, False), _Stream()).ended = True
            self._changed.notify_all()

    def lines(self, namespace: str, pod: str, container: str | None = None, previous: bool = False) -> list[str]:
        """The lines written so far (without timestamps)."""
        with self._changed:
            stream = self._stream(namespace, pod, container, previous)
            return [text for _, text in stream.lines] if stream else []

    # --- serving --------------------------------------------------------------------------------------

    def _stream(self, namespace: str, pod: str, container: str | None, previous: bool) -> _Stream | None:
        return self._streams.get((namespace, pod, container, previous)) or self._streams.get(
            (namespace, pod, None, previous)
        )

    def _waiting_reason(self, namespace: str, pod: str, container: str) -> str | None:
        """The pod's status says the container is waiting: its reason (what a real kubelet refuses on)."""
        from kubernetes import client as kube

        try:
            status = kube.CoreV1Api(self.cluster.admin_client()).read_namespaced_pod_status(pod, namespace).status
        except Exception:
            return None
        for container_status in (status.container_statuses or []) if status else []:
            if container_status.name == container and container_status.state and container_status.state.waiting:
                return container_status.state.waiting.reason or "ContainerCreating"
        return None


def _handler_class(kubelet: FakeKubelet) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet: pytest shows failures, not access logs
            return

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            kubelet.requests.append(self.path)
            parts = [unquote(p) for p in url.path.split("/") if p]
            if parts == ["healthz"]:
                self._send(200, "ok")
                return
            if len(parts) != 4 or parts[0] != "containerLogs":
                self._send(404, f"404 page not found: {url.path}")
                return
            _, namespace, pod, container = parts
            query = {key: values[-1] for key, values in parse_qs(url.query).items()}
            try:
                self._logs(namespace, pod, container, query)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
                return  # the API server closed the stream (its client went away)

        def _send(self, code: int, text: str) -> None:
            body = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _logs(self, namespace: str, pod: str, container: str, query: dict[str, str]) -> None:
            try:
                tail = int(query["tailLines"]) if "tailLines" in query else None
                since = int(query["sinceSeconds"]) if "sinceSeconds" in query else None
                limit = int(query["limitBytes"]) if "limitBytes" in query else None
            except ValueError as exc:
                self._send(400, f"invalid query: {exc}")
                return
            follow = query.get("follow") == "true"
            timestamps = query.get("timestamps") == "true"
            previous = query.get("previous") == "true"
            if previous and kubelet._stream(namespace, pod, container, True) is None:
                self._send(400, f'previous terminated container "{container}" in pod "{pod}" not found')
                return
            waiting = None if previous else kubelet._waiting_reason(namespace, pod, container)
            if waiting:
                self._send(400, f'container "{container}" in pod "{pod}" is waiting to start: {waiting}')
                return
            with kubelet._changed:
                stream = kubelet._stream(namespace, pod, container, previous) or _Stream()
                lines = list(stream.lines)
            if since is not None:
                cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=since)
                lines = [entry for entry in lines if entry[0] >= cutoff]
            start = len(stream.lines)
            if tail is not None:
                lines = lines[-tail:] if tail > 0 else []
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            budget = [limit]

            def emit(entries: list[tuple[dt.datetime, str]]) -> bool:
                data = "".join(f"{rfc3339nano(at) + ' ' if timestamps else ''}{text}\n" for at, text in entries)
                chunk = data.encode()
                if budget[0] is not None:
                    chunk = chunk[: budget[0]]
                    budget[0] -= len(chunk)
                if chunk:
                    self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.flush()
                return budget[0] is None or budget[0] > 0

            more = emit(lines)
            while follow and more and not kubelet._stopping.is_set():
                with kubelet._changed:
                    current = kubelet._stream(namespace, pod, container, previous)
                    if current is None or len(current.lines) <= start:
                        if current is not None and current.ended:
                            break
                        kubelet._changed.wait(_FOLLOW_POLL_S)
                        new: list[tuple[dt.datetime, str]] = []
                    else:
                        new, start = current.lines[start:], len(current.lines)
                if new:
                    more = emit(new)
                elif self._peer_closed():
                    return
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True

        def _peer_closed(self) -> bool:
            """The API server hung up (its client stopped following)."""
            readable, _, _ = select.select([self.connection], [], [], 0)
            if not readable:
                return False
            previous_timeout = self.connection.gettimeout()
            self.connection.settimeout(0.05)
            try:
                return self.connection.recv(1) == b""
            except (TimeoutError, ssl.SSLWantReadError):
                return False
            except OSError:
                return True
            finally:
                with contextlib.suppress(OSError):
                    self.connection.settimeout(previous_timeout)

    return Handler
