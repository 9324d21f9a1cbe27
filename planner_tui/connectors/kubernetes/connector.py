"""KubernetesConnector: a graph's components as a DynamoGraphDeployment's services, or as Deployments.

State comes from watches (no request per tick); changes go through the API in a thread, so no
coroutine here ever blocks the event loop. When the API server cannot be reached the connector
stays up in a degraded state: ``reachable`` is False, ``problems`` says why and when it retries,
``get_component_states`` answers with the last state seen, and a scale keeps retrying with backoff
until ``scale_timeout_s``. Nothing is ever deleted: shutting down leaves the cluster as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from planner_tui.config.connector import KubernetesSettings
from planner_tui.config.graph import GraphConfig
from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.errors import ConnectorError, ScalingRefused
from planner_tui.connectors.kubernetes.client import KubeApi, load_api_client
from planner_tui.connectors.kubernetes.errors import AccessDenied, ApiUnreachable, is_unreachable
from planner_tui.connectors.kubernetes.logs import follow_logs, read_tail
from planner_tui.connectors.kubernetes.target import ServiceCounts, Target
from planner_tui.connectors.targets import check_bounds, resolve_targets
from planner_tui.model.components import ComponentState
from planner_tui.model.logs import LogLine
from planner_tui.model.scaling import TargetReplica

log = logging.getLogger(__name__)

IN_CLUSTER_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
SYNC_TIMEOUT_S = 15.0
RETRY_FIRST_S = 0.5
RETRY_CAP_S = 10.0
WATCH_STOP_S = 5.0
#: seconds after an outage during which a refusal (403) of a change is retried (the authorizer catching up)
AUTHZ_GRACE_S = 15.0


class Changes:
    """A counter bumped on every change the watches see, and a way to wait for the next one."""

    def __init__(self) -> None:
        self.version = 0
        self._event = asyncio.Event()

    def notify(self) -> None:
        """Record a change and wake every waiter (call on the event loop)."""
        self.version += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, timeout_s: float) -> bool:
        """Wait for the next change; False when ``timeout_s`` passed first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout_s)
        except TimeoutError:
            return False
        return True


def resolve_namespace(settings: KubernetesSettings) -> str:
    """The Kubernetes namespace: the setting, else the kubeconfig context's, in-cluster the pod's,
    else ``default``."""
    if settings.k8s_namespace:
        return settings.k8s_namespace
    if settings.in_cluster:
        try:
            with open(IN_CLUSTER_NAMESPACE, encoding="utf-8") as handle:
                return handle.read().strip() or "default"
        except OSError:
            return "default"
    from kubernetes import config

    try:
        path = os.path.expanduser(settings.kubeconfig) if settings.kubeconfig else None
        contexts, active = config.list_kube_config_contexts(config_file=path)
    except Exception:  # load_api_client reports an unreadable kubeconfig
        return "default"
    chosen = next((c for c in contexts if c.get("name") == settings.context), None) if settings.context else active
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


class KubernetesConnector(PlannerConnector):
    """The graph's components on a Kubernetes cluster (``[connector] kind = "kubernetes"``).

    ``observe=True``: read-only (scaling and restarts refuse). ``watch_timeout_s`` is how long
    each watch request lasts before it is resumed.
    """

    kind = "kubernetes"

    def __init__(
        self, graph: GraphConfig, settings: KubernetesSettings, *, observe: bool = False, watch_timeout_s: int = 300
    ) -> None:
        self.namespace = graph.namespace
        self.graph = graph
        self.settings = settings
        self.observe = observe
        self.watch_timeout_s = watch_timeout_s
        self.k8s_namespace = ""
        self.api: KubeApi | None = None
        self._target: Target | None = None
        self._changes: Changes | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._request_error: ConnectorError | None = None  # the last request that found the server gone
        self._progress: str | None = None
        self._scale_lock = asyncio.Lock()

    # -- lifecycle --------------------------------------------------------------------------------------
    @property
    def target(self) -> Target:
        """The DGD or Deployments target (after :meth:`initialize`)."""
        if self._target is None:
            raise ConnectorError("the kubernetes connector is not initialized")
        return self._target

    async def initialize(self) -> None:
        """Load the client configuration, find the target, start the watches and wait for their first list."""
        if self._target is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._changes = Changes()
        settings = self.settings
        self.k8s_namespace = await asyncio.to_thread(resolve_namespace, settings)
        api_client, server = await asyncio.to_thread(
            load_api_client, kubeconfig=settings.kubeconfig, context=settings.context, in_cluster=settings.in_cluster
        )
        self.api = api = KubeApi(api_client, self.k8s_namespace, server)
        try:
            target = self._make_target(api)
            await asyncio.to_thread(target.resolve)
            self._target = target
            for watch in target.watches:
                watch.start()
            await self._wait_synced()
        except BaseException:
            await self._stop_watches()
            self._target = None
            api.close()
            raise

    def _make_target(self, api: KubeApi) -> Target:
        from planner_tui.connectors.kubernetes.deployments import DeploymentsTarget
        from planner_tui.connectors.kubernetes.dgd import DgdTarget

        settings = self.settings
        if settings.target == "deployments":
            if not settings.selector:
                raise ConnectorError(
                    "[connector] target = 'deployments' needs selector, e.g. selector = 'app=my-graph'"
                )
            return DeploymentsTarget(api, self.graph, self._notify, self.watch_timeout_s, settings.selector)
        name = settings.effective_dgd_name()
        if not name:
            raise ConnectorError("no DynamoGraphDeployment named: set [connector] dgd_name or $DYN_PARENT_DGD_K8S_NAME")
        return DgdTarget(api, self.graph, self._notify, self.watch_timeout_s, name)

    def _notify(self) -> None:
        """Called from watch threads: bump the change counter on the loop."""
        loop, changes = self._loop, self._changes
        if loop is not None and changes is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(changes.notify)

    async def _wait_synced(self) -> None:
        deadline = time.monotonic() + SYNC_TIMEOUT_S
        while True:
            watches = self.target.watches
            failed = [w.error for w in watches if w.error is not None and not w.synced.is_set()]
            if failed and not isinstance(failed[0], ApiUnreachable):
                raise failed[0]
            if all(w.synced.is_set() for w in watches):
                return
            left = deadline - time.monotonic()
            if left <= 0:
                detail = f": {failed[0]}" if failed else ""
                raise ConnectorError(
                    f"the Kubernetes API at {self.api.server if self.api else '?'} did not list "
                    f"{', '.join(w.resource.qualified for w in watches if not w.synced.is_set())} within "
                    f"{SYNC_TIMEOUT_S:g} s{detail}"
                )
            assert self._changes is not None
            await self._changes.wait(min(left, 0.5))

    async def _stop_watches(self) -> None:
        target = self._target
        if target is None:
            return
        watches = list(target.watches)
        await asyncio.to_thread(lambda: [w.stop(WATCH_STOP_S) for w in watches])

    async def shutdown(self, stop_graph: bool = True) -> None:
        """Stop the watches and close the client. The cluster is left as it is (``stop_graph`` is
        ignored: a DGD or Deployment outlives the planner)."""
        await self._stop_watches()
        if self.api is not None:
            self.api.close()

    # -- health -----------------------------------------------------------------------------------------
    def _unreachable(self) -> ConnectorError | None:
        if self._request_error is not None:
            return self._request_error
        if self._target is None:
            return None
        for watch in self._target.watches:
            if isinstance(watch.error, ApiUnreachable):
                return watch.error
        return None

    @property
    def reachable(self) -> bool:
        """False while the API server does not answer (the planner then holds)."""
        return self._unreachable() is None

    @property
    def problems(self) -> list[str]:
        """The API server unreachable, RBAC refusals of the watches, a DGD not Ready, a missing service."""
        found: list[str] = []
        down = self._unreachable()
        if down is not None:
            found.append(f"{down}; retrying with backoff, showing the last state seen")
        target = self._target
        if target is None:
            return found
        for watch in target.watches:
            if watch.error is not None and not isinstance(watch.error, ApiUnreachable):
                found.append(str(watch.error))
        if down is None:
            found += target.problems()
            refusal = target.refusal()
            if refusal is not None:
                found.append(f"{target.label} is not Ready ({refusal}): scaling is held")
        return found

    @property
    def label(self) -> str:
        """``kubernetes dgd/NAMESPACE/NAME`` plus ``· unreachable`` or a restart in progress."""
        if self._target is None:
            return self.kind
        text = f"{self.kind} {self._target.label}"
        if not self.reachable:
            return f"{text} · API unreachable"
        status = self._target.status_text()
        if self._progress:
            status = self._progress
        return f"{text} · {status}" if status else text

    async def changed(self, timeout_s: float) -> bool:
        """Wait until the watches see the next change (or a watch fails or recovers); False on timeout."""
        if self._changes is None:
            raise ConnectorError("the kubernetes connector is not initialized")
        return await self._changes.wait(timeout_s)

    async def until(self, condition: Callable[[], bool], timeout_s: float, what: str) -> None:
        """Wait until ``condition()`` holds, re-checked at every change; ConnectorError after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConnectorError(f"{what}: not seen within {timeout_s:g} s")
            await self.changed(min(left, 1.0))

    # -- state ------------------------------------------------------------------------------------------
    async def get_component_states(self) -> Mapping[str, ComponentState]:
        """Every component's state from the watches (no request)."""
        return self.target.component_states()

    async def get_component_replicas(self, component_name: str) -> int:
        """The component's desired count."""
        counts = self._counts(component_name)
        return counts.desired if counts is not None else 0

    def _counts(self, component: str) -> ServiceCounts | None:
        self.target.require(component)
        return self.target.counts(component)

    async def list_components(self) -> list[dict[str, Any]]:
        """The base listing plus updated/available counts as the cluster reports them."""
        rows = await super().list_components()
        for row in rows:
            row.update(self.target.extra(row["name"]))
            for replica, state in zip(
                row["replicas"], self.target.component_states()[row["name"]].replicas, strict=True
            ):
                replica.update({"node": state.node, "reason": state.reason, "started_at": state.started_at})
        return rows

    # -- changing ---------------------------------------------------------------------------------------
    def _writable(self, what: str) -> None:
        if self.observe:
            raise ConnectorError(f"cannot {what}: this kubernetes connector observes only (read-only)")

    async def _call(self, what: str, fn: Callable[..., Any], *args: Any, deadline: float) -> Any:
        """Run a blocking change in a thread; while the server is unreachable retry with backoff until
        ``deadline`` (monotonic), showing the degraded state meanwhile. A retry also starts as soon as
        a watch sees the server again. Just after an outage a restarted API server may refuse (403)
        until its authorizer has caught up: for ``AUTHZ_GRACE_S`` after the last failure to reach it,
        that is retried too."""
        delay = RETRY_FIRST_S
        last_down: float | None = None
        while True:
            try:
                result = await asyncio.to_thread(fn, *args)
            except Exception as exc:
                raw = not isinstance(exc, ConnectorError)
                down = isinstance(exc, ApiUnreachable) or (raw and is_unreachable(exc))
                settling = isinstance(exc, AccessDenied) and last_down is not None
                if not down and not (settling and time.monotonic() - last_down < AUTHZ_GRACE_S):  # type: ignore[operator]
                    raise
                if down:
                    last_down = time.monotonic()
                    error = exc if isinstance(exc, ApiUnreachable) else ApiUnreachable(str(exc))
                    self._request_error = error
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ConnectorError(f"{what} not applied: {exc} (gave up at the deadline)") from None
                wait = min(delay, left)
                log.info("%s: %s; retrying within %.1f s", what, exc, wait)
                assert self._changes is not None
                await self._changes.wait(wait)
                delay = min(delay * 2, RETRY_CAP_S)
                continue
            self._request_error = None
            return result

    async def scale_component(self, component_name: str, replicas: int) -> bool:
        """Set a component's desired replica count; True when a change was made."""
        self._writable("scale")
        check_bounds(self.graph, component_name, replicas)
        async with self._scale_lock:
            deadline = time.monotonic() + self.settings.scale_timeout_s
            changed: bool = await self._call(
                f"scale {component_name} to {replicas}", self.target.scale, component_name, replicas, deadline=deadline
            )
            return changed

    async def set_component_replicas(self, targets: list[TargetReplica], blocking: bool = False) -> None:
        """Validate every target, refuse while the DGD is not Ready, apply, and with ``blocking`` wait
        until each changed component is stable (desired == updated == ready) or ``scale_timeout_s``."""
        self._writable("scale")
        wanted = resolve_targets(self.graph, targets)
        if not wanted:
            return
        refusal = self.target.refusal()
        if refusal is not None:
            raise ScalingRefused(f"{self.target.label} is not Ready ({refusal}); scaling waits until it is")
        deadline = time.monotonic() + self.settings.scale_timeout_s
        async with self._scale_lock:
            for name, replicas in wanted.items():
                await self._call(f"scale {name} to {replicas}", self.target.scale, name, replicas, deadline=deadline)
        if blocking:
            await self.wait_stable(list(wanted), deadline=deadline)

    async def wait_stable(
        self,
        components: list[str],
        *,
        deadline: float | None = None,
        on_progress: Callable[[str], None] | None = None,
    ) -> None:
        """Wait until every one of ``components`` is stable (desired == updated == ready), woken by the
        watches; report progress (``label`` shows it too); ConnectorError naming the counts at the deadline."""
        deadline = time.monotonic() + self.settings.scale_timeout_s if deadline is None else deadline
        assert self._changes is not None
        last = None
        try:
            while True:
                pending = {n: c for n in components if (c := self._counts(n)) is None or not c.stable}
                if not pending:
                    return
                left = deadline - time.monotonic()
                status = "waiting for " + "; ".join(f"{n}: {c.describe() if c else 'gone'}" for n, c in pending.items())
                self._progress = status
                if status != last and on_progress is not None:
                    on_progress(f"{status} ({max(0.0, left):.0f} s left)")
                last = status
                if left <= 0:
                    raise ConnectorError(
                        f"not stable in time (scale_timeout_s = {self.settings.scale_timeout_s:g}): {status}"
                    )
                await self._changes.wait(min(left, 1.0))
        finally:
            self._progress = None

    async def restart_component(self, component_name: str, rolling: bool = True) -> bool:
        """Ask the cluster for a restart (DGD: a new ``spec.restart.id``; Deployment: the rollout-restart
        annotation). Progress shows in the header and ``status.restart``."""
        self._writable("restart")
        self.target.require(component_name)
        deadline = time.monotonic() + self.settings.scale_timeout_s
        await self._call(f"restart {component_name}", self.target.restart, component_name, rolling, deadline=deadline)
        return True

    # -- logs -------------------------------------------------------------------------------------------
    async def get_component_logs(self, component_name: str, lines: int = 100) -> list[LogLine]:
        """The last ``lines`` lines of the component's pods, merged by time, each prefixed with its pod."""
        self.target.require(component_name)
        api, target = self._api(), self.target
        pods = [p for p in target.pods_of(component_name) if (p.get("spec") or {}).get("nodeName")]
        tails = await asyncio.gather(
            *(asyncio.to_thread(read_tail, api, component_name, p, target.log_container(p), lines) for p in pods),
            return_exceptions=True,
        )
        merged: list[LogLine] = []
        errors = []
        for pod, tail in zip(pods, tails, strict=True):
            if isinstance(tail, BaseException):
                errors.append(f"{pod['metadata']['name']}: {tail}")
            else:
                merged += tail
        if errors and not merged:
            raise ConnectorError("cannot read logs: " + "; ".join(errors))
        merged.sort(key=lambda line: line.timestamp)
        return merged[-lines:] if lines > 0 else []

    def follow_component_logs(self, component_name: str) -> AsyncIterator[LogLine]:
        """New lines of the component's pods as they are written, new pods included, until cancelled."""
        self.target.require(component_name)
        assert self._changes is not None
        return follow_logs(self._api(), self.target, component_name, self._changes.wait)

    def _api(self) -> KubeApi:
        if self.api is None:
            raise ConnectorError("the kubernetes connector is not initialized")
        return self.api
