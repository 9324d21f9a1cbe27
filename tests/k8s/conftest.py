"""Fixtures for tests against a real kube-apiserver + etcd (see ``cluster.py``).

- ``kube_apiserver_binary`` (session): the kube-apiserver v1.20.2 binary, built on first use (4-6 min,
  then cached outside the repository). Outside CI a binary that cannot be built skips these tests with
  the reason; with ``CI=true`` it fails them.
- ``kube_cluster`` (session): a :class:`KubeCluster` with the example CRDs installed (~4 s to start).
- ``kubelet`` (session): a :class:`FakeKubelet` registered as Node ``node-1``.
- ``kube_namespace``: a fresh namespace for this test (deletion asked for at teardown).
- ``operator``: an :class:`Operator` bound to the session cluster.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.k8s.build import KubeApiserverUnavailable, ensure_kube_apiserver
from tests.k8s.cluster import KubeCluster
from tests.k8s.kubelet import FakeKubelet
from tests.k8s.operator import Operator

_namespaces = itertools.count()


@pytest.fixture(scope="session")
def kube_apiserver_binary() -> Path:
    """kube-apiserver v1.20.2 (built if missing)."""
    try:
        return ensure_kube_apiserver()
    except KubeApiserverUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the Kubernetes tests, but kube-apiserver could not be built: {exc}")
        pytest.skip(f"kube-apiserver unavailable: {exc}")


@pytest.fixture(scope="session")
def kube_cluster(kube_apiserver_binary: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeCluster]:
    """etcd + kube-apiserver with the example CRDs, shared by the session; stopped (bounded) at the end."""
    cluster = KubeCluster(kube_apiserver_binary, workdir=tmp_path_factory.mktemp("kube"))
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def kubelet(kube_cluster: KubeCluster) -> Iterator[FakeKubelet]:
    """The fake kubelet behind Node ``node-1`` (pod logs through the API server's log proxy)."""
    fake = FakeKubelet(kube_cluster).start()
    try:
        yield fake
    finally:
        fake.close()


@pytest.fixture
def operator(kube_cluster: KubeCluster) -> Operator:
    """Plays Dynamo's operator and the absent controllers, as admin."""
    return Operator(kube_cluster)


@pytest.fixture
def kube_namespace(kube_cluster: KubeCluster, operator: Operator) -> Iterator[str]:
    """A new namespace for this test (``t{pid}-{n}``)."""
    if kube_cluster.apiserver_pid is None:  # a previous test stopped it and failed before restarting it
        kube_cluster.start_apiserver()
    name = operator.create_namespace(f"t{os.getpid()}-{next(_namespaces)}")
    yield name
    if kube_cluster.apiserver_pid is None:
        kube_cluster.start_apiserver()
    operator.delete_namespace(name)
