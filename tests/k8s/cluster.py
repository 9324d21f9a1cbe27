"""A real Kubernetes control plane for tests: etcd + kube-apiserver v1.20.2 on loopback ports.

:class:`KubeCluster` starts Debian's ``etcd`` (data in a temporary directory) and the ``kube-apiserver``
built by :mod:`tests.k8s.build`, with:

- TLS everywhere from a throwaway CA (:mod:`tests.k8s.pki`); kubeconfigs verify the server;
- a static token file with three users: ``admin`` (group ``system:masters``), ``planner`` and
  ``nobody`` (no groups: only what RBAC grants them, which for ``nobody`` is nothing);
- ``--authorization-mode=RBAC``; the ``ServiceAccount`` admission plugin off, so pods can be created
  without a token controller;
- the apiserver's client certificate towards kubelets, and ``--kubelet-certificate-authority``, so pod
  logs reach a :class:`tests.k8s.kubelet.FakeKubelet` over verified TLS;
- the example CRDs (``examples/k8s/crds/*.yaml``) installed and served before :meth:`KubeCluster.start`
  returns.

There is no controller-manager, scheduler or kubelet: tests play the operator (:mod:`tests.k8s.operator`).
Every wait is bounded; :meth:`KubeCluster.close` stops both processes (SIGTERM, then SIGKILL) and, when
started from the main thread, the children also die with the test process (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import yaml

from tests.k8s.pki import CertificateAuthority, service_account_keys

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = REPO_ROOT / "examples" / "k8s" / "crds"
RBAC_YAML = REPO_ROOT / "examples" / "k8s" / "rbac.yaml"
#: the token file's users and their groups
USERS: dict[str, tuple[str, ...]] = {"admin": ("system:masters",), "planner": (), "nobody": ()}
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
_POLL_S = 0.05


class ClusterError(RuntimeError):
    """etcd or kube-apiserver did not start or stop (the message has the tail of its log)."""


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with(parent: int) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets SIGTERM when ``parent`` dies, even by SIGKILL."""

    def preexec() -> None:  # runs in the child between fork and exec
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before prctl: nobody would stop this child
            os._exit(1)

    return preexec


def _log_tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-chars:]
    except OSError:
        return ""


class _Process:
    """One server process with its log file; stop() is bounded and idempotent."""

    def __init__(self, name: str, argv: Sequence[str], log: Path) -> None:
        self.name = name
        self.log = log
        with log.open("ab") as out:
            # PR_SET_PDEATHSIG fires when the *thread* that forked exits: only safe from the main thread
            main = threading.current_thread() is threading.main_thread()
            self.popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with(os.getpid()) if main else None,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exited(self) -> int | None:
        return self.popen.poll()

    def failure(self, what: str) -> ClusterError:
        code = self.popen.poll()
        state = f"exited {code}" if code is not None else "still running"
        return ClusterError(f"{self.name} {what} ({state}); log {self.log}:\n{_log_tail(self.log)}")

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.popen.terminate()
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.popen.kill()
            self.popen.wait(timeout)


_open_clusters: weakref.WeakSet[KubeCluster] = weakref.WeakSet()


@atexit.register
def _close_leftovers() -> None:
    for cluster in list(_open_clusters):
        with contextlib.suppress(Exception):
            cluster.close()


class KubeCluster:
    """etcd + kube-apiserver on 127.0.0.1, with the example CRDs installed.

    ``with KubeCluster(binary) as cluster:`` or ``cluster = KubeCluster(binary).start()`` ...
    ``cluster.close()``. Attributes: ``url`` (``https://127.0.0.1:PORT``), ``workdir``, ``ca_cert``.
    """

    def __init__(
        self,
        binary: Path,
        workdir: Path | None = None,
        crds: Sequence[Path] | None = None,
        etcd: str = "etcd",
        start_timeout_s: float = START_TIMEOUT_S,
    ) -> None:
        self.binary = Path(binary)
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="planner-tui-kube-"))
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.crds = list(crds) if crds is not None else sorted(CRD_DIR.glob("*.yaml"))
        self.etcd_binary = etcd
        self.start_timeout_s = start_timeout_s
        self.tokens = {user: secrets.token_hex(16) for user in USERS}
        self.port = 0
        self.etcd_port = 0
        self._etcd: _Process | None = None
        self._apiserver: _Process | None = None
        self._admin: ApiClient | None = None
        self._lock = threading.Lock()
        self.ca: CertificateAuthority | None = None
        #: seconds each start phase took: pki, etcd, apiserver, crds
        self.timings: dict[str, float] = {}

    # --- public API ---------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The API server's base URL."""
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_cert(self) -> Path:
        """The CA certificate that signed the API server's (and the fake kubelet's) certificate."""
        assert self.ca is not None, "start() the cluster first"
        return self.ca.cert

    @property
    def apiserver_pid(self) -> int | None:
        """The running kube-apiserver's pid (None while stopped)."""
        proc = self._apiserver
        return proc.pid if proc is not None and proc.exited() is None else None

    @property
    def etcd_pid(self) -> int | None:
        """The running etcd's pid (None while stopped)."""
        proc = self._etcd
        return proc.pid if proc is not None and proc.exited() is None else None

    def start(self) -> KubeCluster:
        """Start etcd and kube-apiserver and install the CRDs; on any failure nothing is left running."""
        _open_clusters.add(self)
        try:
            started = time.monotonic()
            self._make_pki()
            self.timings["pki"] = time.monotonic() - started
            phase = time.monotonic()
            self._start_etcd()
            self.timings["etcd"] = time.monotonic() - phase
            phase = time.monotonic()
            for attempt in range(3):  # a port taken between free_port() and the apiserver's bind: another
                self.port = free_port()
                try:
                    self.start_apiserver()
                    break
                except ClusterError as exc:
                    if attempt == 2 or "address already in use" not in str(exc):
                        raise
            self.timings["apiserver"] = time.monotonic() - phase
            phase = time.monotonic()
            for path in self.crds:
                self.install_crds(path)
            self.timings["crds"] = time.monotonic() - phase
            self.timings["total"] = time.monotonic() - started
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> KubeCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def token(self, user: str = "admin") -> str:
        """The bearer token of one of :data:`USERS`."""
        if user not in self.tokens:
            raise KeyError(f"unknown user {user!r}; the token file has {sorted(self.tokens)}")
        return self.tokens[user]

    def kubeconfig(self, user: str = "admin") -> Path:
        """A kubeconfig file (0600, absolute paths) that logs in as ``user``."""
        token = self.token(user)
        path = self.workdir / f"kubeconfig-{user}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "test", "cluster": {"server": self.url, "certificate-authority": str(self.ca_cert)}}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {"name": f"{user}@test", "context": {"cluster": "test", "user": user, "namespace": "default"}}
            ],
            "current-context": f"{user}@test",
        }
        partial = path.with_name(path.name + ".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yaml.safe_dump(config, out)
        partial.replace(path)
        return path

    def client(self, user: str = "admin") -> ApiClient:
        """A new ``kubernetes.client.ApiClient`` logged in as ``user`` (the caller closes it)."""
        from kubernetes import config as kube_config

        return kube_config.new_client_from_config(config_file=str(self.kubeconfig(user)))

    def admin_client(self) -> ApiClient:
        """The cluster's shared admin ``ApiClient`` (closed by :meth:`close`)."""
        with self._lock:
            if self._admin is None:
                self._admin = self.client("admin")
            return self._admin

    def http(self, user: str = "admin", timeout: float = 10.0) -> httpx.Client:
        """An ``httpx.Client`` on the API server that verifies it and sends ``user``'s token."""
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=str(self.ca_cert)),
            headers={"Authorization": f"Bearer {self.token(user)}"},
            timeout=timeout,
        )

    def issue_cert(self, name: str) -> tuple[Path, Path]:
        """A certificate and key signed by the cluster's CA, for 127.0.0.1/localhost (e.g. a kubelet)."""
        assert self.ca is not None, "start() the cluster first"
        return self.ca.issue(name)

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver (etcd keeps the data); bounded: SIGTERM, then SIGKILL after 10 s."""
        proc, self._apiserver = self._apiserver, None
        if proc is not None:
            proc.stop()

    def start_apiserver(self) -> None:
        """Start kube-apiserver on the cluster's port and wait until ``/readyz`` answers ok."""
        if self.apiserver_pid is not None:
            return
        if self._etcd is None or self._etcd.exited() is not None:
            raise ClusterError("etcd is not running: start() the cluster first")
        proc = _Process("kube-apiserver", self._apiserver_argv(), self.workdir / "kube-apiserver.log")
        self._apiserver = proc
        try:
            self._wait(proc, "did not become ready (/readyz)", self._apiserver_ready)
        except BaseException:
            self.stop_apiserver()
            raise

    @contextlib.contextmanager
    def apiserver_down(self) -> Iterator[None]:
        """Within the block the API server is stopped; it is started again (same port, same data) after."""
        self.stop_apiserver()
        try:
            yield
        finally:
            self.start_apiserver()

    def install_crds(self, path: Path) -> list[str]:
        """Create (or replace) the CRDs in a YAML file and wait until each is Established and served."""
        from kubernetes import client as kube

        api = kube.ApiextensionsV1Api(self.admin_client())
        names: list[str] = []
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc:
                continue
            if doc.get("kind") != "CustomResourceDefinition":
                raise ClusterError(f"{path}: expected CustomResourceDefinition documents, got {doc.get('kind')!r}")
            name = doc["metadata"]["name"]
            try:
                api.create_custom_resource_definition(doc)
            except kube.ApiException as exc:
                if exc.status != 409:
                    raise ClusterError(f"installing CRD {name} from {path}: {exc.status} {exc.body}") from exc
                current = api.read_custom_resource_definition(name)
                doc["metadata"]["resourceVersion"] = current.metadata.resource_version
                api.replace_custom_resource_definition(name, doc)
            names.append(name)
            self._wait_crd_served(api, doc)
        return names

    def apply_manifest(self, source: Path | str | list[dict[str, Any]], namespace: str | None = None) -> list[Any]:
        """Create every object of a YAML file (or of a list of dicts) as admin; namespaced ones in ``namespace``."""
        from kubernetes import utils

        docs = _documents(source)
        created: list[Any] = []
        for doc in docs:
            kwargs = {"namespace": namespace} if namespace else {}
            created.extend(utils.create_from_dict(self.admin_client(), doc, **kwargs))
        return created

    def grant(self, namespace: str, user: str = "planner", rbac: Path | str | None = None) -> list[str]:
        """Apply ``examples/k8s/rbac.yaml`` (or ``rbac``) and bind its Roles/ClusterRoles to ``user``.

        Namespaced objects go to ``namespace``; each (Cluster)Role gets a RoleBinding in ``namespace``
        naming the user, so the user holds exactly the file's permissions there. Returns the role names.
        """
        from kubernetes import client as kube

        docs = _documents(Path(rbac) if rbac else RBAC_YAML)
        rbac_api = kube.RbacAuthorizationV1Api(self.admin_client())
        roles: list[str] = []
        for doc in docs:
            try:
                self.apply_manifest([doc], namespace=namespace)
            except Exception as exc:  # utils.FailToCreateError wraps 409s
                if "AlreadyExists" not in str(exc) and "409" not in str(exc):
                    raise
            if doc.get("kind") in ("Role", "ClusterRole"):
                role = doc["metadata"]["name"]
                roles.append(role)
                binding = {
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": f"test-{user}-{role}"[:253], "namespace": namespace},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": doc["kind"], "name": role},
                    "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}],
                }
                with contextlib.suppress(kube.ApiException):
                    rbac_api.delete_namespaced_role_binding(binding["metadata"]["name"], namespace)
                rbac_api.create_namespaced_role_binding(namespace, binding)
        if not roles:
            raise ClusterError(f"{rbac or RBAC_YAML} has no Role or ClusterRole to grant {user!r}")
        for doc in docs:  # the authorizer sees new bindings through a watch: wait until they count
            if doc.get("kind") in ("Role", "ClusterRole"):
                for rule in doc.get("rules") or []:
                    self._wait_allowed(user, namespace, rule)
        return roles

    def _wait_allowed(self, user: str, namespace: str, rule: dict[str, Any]) -> None:
        from kubernetes import client as kube

        verbs, groups, resources = rule.get("verbs") or [], rule.get("apiGroups") or [""], rule.get("resources")
        if not verbs or not resources or "*" in verbs + resources:
            return
        resource, _, subresource = resources[0].partition("/")
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": user,
                "resourceAttributes": {
                    "namespace": namespace,
                    "verb": verbs[0],
                    "group": groups[0],
                    "resource": resource,
                    "subresource": subresource,
                },
            },
        }
        api = kube.AuthorizationV1Api(self.admin_client())
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            if api.create_subject_access_review(review).status.allowed:
                return
            time.sleep(_POLL_S)
        raise ClusterError(f"RBAC did not grant {user!r} {verbs[0]} {resources[0]} in {namespace} within 10 s")

    def close(self) -> None:
        """Stop kube-apiserver and etcd (bounded) and remove the work directory if this cluster made it."""
        with self._lock:
            admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()
        errors: list[str] = []
        for stop in (self.stop_apiserver, self._stop_etcd):
            try:
                stop()
            except Exception as exc:
                errors.append(str(exc))
        _open_clusters.discard(self)
        if self._own_workdir and os.environ.get("PLANNER_TUI_KUBE_KEEP") != "1":
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise ClusterError("; ".join(errors))

    # --- internals ----------------------------------------------------------------------------------

    def _make_pki(self) -> None:
        pki = self.workdir / "pki"
        self.ca = CertificateAuthority.create(pki)
        self.serving_cert, self.serving_key = self.ca.issue("apiserver", dns=("localhost", "kubernetes"))
        # the apiserver's identity towards kubelets (a kubelet would authorize it; ours checks the CA)
        self.kubelet_client_cert, self.kubelet_client_key = self.ca.issue(
            "apiserver-kubelet-client", organizations=("system:masters",), ips=(), dns=()
        )
        self.sa_key, self.sa_pub = service_account_keys(pki)
        lines = []
        for user, groups in USERS.items():
            line = f"{self.tokens[user]},{user},uid-{user}"
            if groups:
                line += ',"' + ",".join(groups) + '"'
            lines.append(line)
        token_file = pki / "tokens.csv"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
        self.token_file = token_file

    def _start_etcd(self) -> None:
        if shutil.which(self.etcd_binary) is None:
            raise ClusterError(f"{self.etcd_binary} not found; as root: apt-get install -y etcd-server")
        last: ClusterError | None = None
        for _attempt in range(3):  # a port taken between free_port() and etcd's bind: try new ones
            self.etcd_port, peer = free_port(), free_port()
            data = self.workdir / "etcd"
            shutil.rmtree(data, ignore_errors=True)
            argv = [
                self.etcd_binary,
                "--name=test",
                f"--data-dir={data}",
                f"--listen-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--advertise-client-urls=http://127.0.0.1:{self.etcd_port}",
                f"--listen-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
                f"--initial-cluster=test=http://127.0.0.1:{peer}",
                "--initial-cluster-state=new",
                "--heartbeat-interval=20",  # one member: it elects itself after one election timeout
                "--election-timeout=200",  # (default 1000 ms): ready in ~0.2 s instead of ~0.8 s
                "--listen-metrics-urls=",
                "--logger=zap",
                "--log-level=warn",
            ]
            proc = _Process("etcd", argv, self.workdir / "etcd.log")
            self._etcd = proc
            try:
                self._wait(proc, "did not become healthy", self._etcd_healthy)
                return
            except ClusterError as exc:
                proc.stop()
                self._etcd = None
                last = exc
                if "address already in use" not in _log_tail(proc.log):
                    raise
        assert last is not None
        raise last

    def _stop_etcd(self) -> None:
        proc, self._etcd = self._etcd, None
        if proc is not None:
            proc.stop()

    def _etcd_healthy(self) -> bool:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.etcd_port}/health", timeout=2.0)
        except httpx.HTTPError:
            return False
        return answer.status_code == 200 and '"true"' in answer.text

    def _apiserver_argv(self) -> list[str]:
        assert self.ca is not None
        return [
            str(self.binary),
            f"--etcd-servers=http://127.0.0.1:{self.etcd_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            "--insecure-port=0",
            f"--cert-dir={self.workdir / 'certs'}",
            f"--tls-cert-file={self.serving_cert}",
            f"--tls-private-key-file={self.serving_key}",
            f"--client-ca-file={self.ca.cert}",
            f"--token-auth-file={self.token_file}",
            "--authorization-mode=RBAC",
            "--anonymous-auth=true",  # /readyz, /version for system:unauthenticated, as in real clusters
            "--disable-admission-plugins=ServiceAccount",
            f"--service-account-key-file={self.sa_pub}",
            f"--service-account-signing-key-file={self.sa_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/24",
            f"--kubelet-certificate-authority={self.ca.cert}",
            f"--kubelet-client-certificate={self.kubelet_client_cert}",
            f"--kubelet-client-key={self.kubelet_client_key}",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-timeout=10s",
            "--endpoint-reconciler-type=none",
            "--profiling=false",
            "--v=0",
        ]

    def _apiserver_ready(self) -> bool:
        try:
            with self.http("admin", timeout=2.0) as http:
                answer = http.get("/readyz")
        except (httpx.HTTPError, ssl.SSLError, OSError):
            return False
        return answer.status_code == 200

    def _wait(self, proc: _Process, what: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if proc.exited() is not None:
                raise proc.failure("exited while starting")
            if ready():
                return
            time.sleep(_POLL_S)
        raise proc.failure(f"{what} within {self.start_timeout_s:.0f} s")

    def _wait_crd_served(self, api: Any, doc: dict[str, Any]) -> None:
        """Established, and a list of the resource answers (the handler comes up just after Established)."""
        name = doc["metadata"]["name"]
        group, plural = doc["spec"]["group"], doc["spec"]["names"]["plural"]
        version = next(v["name"] for v in doc["spec"]["versions"] if v.get("served", True))
        deadline = time.monotonic() + self.start_timeout_s
        established = False
        with self.http("admin") as http:
            while time.monotonic() < deadline:
                if not established:
                    crd = api.read_custom_resource_definition(name)
                    conditions = (crd.status.conditions or []) if crd.status else []
                    established = any(c.type == "Established" and c.status == "True" for c in conditions)
                if established and http.get(f"/apis/{group}/{version}/{plural}").status_code == 200:
                    return
                time.sleep(_POLL_S)
        raise ClusterError(f"CRD {name} was not established and served within {self.start_timeout_s:.0f} s")


def _documents(source: Path | str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(source, list):
        return source
    path = Path(source)
    if not path.exists():
        raise ClusterError(f"{path} does not exist")
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]


def main() -> int:
    """``python -m tests.k8s.cluster``: a cluster (with the fake kubelet) for manual checks, until Ctrl-C."""
    import sys

    from tests.k8s.build import KubeApiserverUnavailable, ensure_kube_apiserver
    from tests.k8s.kubelet import FakeKubelet

    try:
        binary = ensure_kube_apiserver()
    except KubeApiserverUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    with KubeCluster(binary) as cluster, FakeKubelet(cluster):
        print(f"kube-apiserver {cluster.url} ready in {cluster.timings['total']:.1f} s; node-1 registered")
        for user in USERS:
            print(f"  {user}: export KUBECONFIG={cluster.kubeconfig(user)}")
        print("Ctrl-C stops etcd and kube-apiserver and removes", cluster.workdir)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
