"""DelegateConnector (``[connector] kind = "global"``): the planner decides, a Global Planner applies.

Scaling sends a ``ScaleRequest`` (with the planner's forecast as ``predicted_load``) to the service
and never touches the replicas itself. The graph's state and logs are read through the
``execution`` connector, opened read-only (``observe=True``): for local execution, the processes
the service runs are seen through their state file, read afresh at each look (the service may add
or remove replicas, or be restarted, at any time). A background health check keeps ``reachable``
and ``problems`` true to the service: while it cannot be reached, or the graph cannot be read, the
planner holds instead of deciding blind.

Restarting replicas is not part of the contract: it is refused with where to do it instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from planner_tui.config.connector import GlobalSettings
from planner_tui.config.graph import GraphConfig
from planner_tui.config.secrets import SecretFileError, read_private_text
from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.delegate.client import GlobalPlannerClient, ServiceUnreachable
from planner_tui.connectors.errors import ComponentNotFound, ConnectorError
from planner_tui.model.components import ComponentState
from planner_tui.model.logs import LogLine
from planner_tui.model.scaling import PredictedLoad, ScaleRequest, ScaleResponse, TargetReplica

log = logging.getLogger(__name__)


def read_token(path: str) -> str:
    """This namespace's token from its file (0600, the user's own, one token)."""
    try:
        token = read_private_text(path).strip()
    except SecretFileError as exc:
        raise ConnectorError(f"[connector] token_file: {exc}") from None
    if not token or any(c.isspace() for c in token):
        raise ConnectorError(f"[connector] token_file {path} must hold one token (no spaces)")
    return token


def describe(answer: ScaleResponse) -> str:
    """The service's answer as one line for the decision log."""
    counts = " ".join(f"{k}={v}" for k, v in answer.current_replicas.items())
    return f"Global Planner: {answer.status}: {answer.message}" + (f" ({counts})" if counts else "")


class DelegateConnector(PlannerConnector):
    """Delegates scaling to a Global Planner; reads state and logs through the execution connector."""

    kind = "global"

    def __init__(self, graph: GraphConfig, *, observe: bool = False) -> None:
        if not isinstance(graph.connector, GlobalSettings):
            raise ConnectorError(f"the graph's connector is {graph.connector.kind!r}, not 'global'")
        self.namespace = graph.namespace
        self.graph = graph
        self.settings: GlobalSettings = graph.connector
        self.execution_graph = graph.model_copy(update={"connector": self.settings.execution})
        self.client: GlobalPlannerClient | None = None
        self._observer: PlannerConnector | None = None
        self._read_lock = asyncio.Lock()
        self._last_states: Mapping[str, ComponentState] | None = None
        self._service_problem: str | None = None
        self._graph_problem: str | None = None
        self._health_task: asyncio.Task[None] | None = None
        self.last_answer: ScaleResponse | None = None
        self.observe = observe

    # -- what the dashboard and the runner see ------------------------------------------------------
    @property
    def label(self) -> str:
        """``delegated to http://127.0.0.1:8411``."""
        return f"delegated to {self.settings.address}"

    @property
    def problems(self) -> list[str]:
        """The service's and the graph's problems (unreachable, unreadable), then the execution's."""
        found = [p for p in (self._service_problem, self._graph_problem) if p]
        if self._observer is not None:
            found += self._observer.problems
        return found

    @property
    def reachable(self) -> bool:
        """False while the service does not answer or the graph cannot be read."""
        return self._service_problem is None and self._graph_problem is None

    # -- lifecycle ------------------------------------------------------------------------------------
    async def initialize(self) -> None:
        """Read the token, check the service answers (a problem, not a failure, when it does not),
        and open the execution connector read-only."""
        if self.client is not None:
            return
        token = read_token(self.settings.token_file) if self.settings.token_file else None
        self.client = GlobalPlannerClient(
            self.settings.address,
            self.settings.global_planner_namespace,
            token,
            self.settings.timeout_s,
            self.settings.retries,
        )
        try:
            await self._check_health()
            self._observer = await self._open_observer()
        except BaseException:
            await self.client.close()
            self.client = None
            raise
        self._health_task = asyncio.get_running_loop().create_task(self._watch_health(), name="delegate-health")

    async def _open_observer(self) -> PlannerConnector:
        from planner_tui.connectors.factory import open_connector

        try:
            return await open_connector(self.execution_graph, observe=True)
        except ConnectorError as exc:
            raise ConnectorError(
                f"{exc} (with [connector] kind = 'global' the Global Planner runs the graph: start it first, "
                f"e.g. `planner-tui global-planner --environment local --graph NAME=FILE`)"
            ) from None

    async def shutdown(self, stop_graph: bool = True) -> None:
        """Stop the health check and close the client and the observer. The graph is the service's:
        it is never stopped from here, whatever ``stop_graph`` says."""
        if self._health_task is not None:
            self._health_task.cancel()
            await asyncio.wait({self._health_task}, timeout=2.0)
            self._health_task = None
        if self._observer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._observer.shutdown(stop_graph=False), 10.0)
            self._observer = None
        if self.client is not None:
            await self.client.close()
            self.client = None

    async def _check_health(self) -> None:
        assert self.client is not None
        try:
            await self.client.health()
        except ServiceUnreachable as exc:
            if self._service_problem is None:
                log.warning("%s", exc)
            self._service_problem = str(exc)
        else:
            self._service_problem = None

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(self.settings.health_interval_s)
            await self._check_health()

    # -- state ----------------------------------------------------------------------------------------
    async def _execution(self) -> PlannerConnector:
        """The read-only execution connector (opened again if it could not be opened before); its view
        follows the graph the service changes (a local observer reads the state file again when stale)."""
        async with self._read_lock:
            if self._observer is None:
                try:
                    self._observer = await self._open_observer()
                except ConnectorError as exc:
                    self._graph_problem = f"cannot read the graph: {exc}"
                    raise
            return self._observer

    async def get_component_states(self) -> Mapping[str, ComponentState]:
        """The graph's components as the execution connector sees them; while it cannot read the graph
        the last view is kept and the connector is unreachable (the planner holds)."""
        observer = await self._execution()
        try:
            states = await observer.get_component_states()
        except ConnectorError as exc:
            self._graph_problem = f"cannot read the graph: {exc}"
            if self._last_states is None:
                raise
            return self._last_states
        self._graph_problem = None
        self._last_states = states
        return states

    async def get_component_replicas(self, component_name: str) -> int:
        """A component's desired replica count as the execution connector sees it."""
        return await (await self._execution()).get_component_replicas(component_name)

    # -- scaling --------------------------------------------------------------------------------------
    def _request(self, targets: list[TargetReplica], blocking: bool, load: PredictedLoad | None) -> ScaleRequest:
        named = []
        for target in targets:
            if target.component_name is not None:
                comp = self.graph.components.get(target.component_name)
                if comp is None:
                    raise ComponentNotFound(target.component_name, self.graph.components)
                # upstream services pick components by sub_component_type: send it when there is one
                target = TargetReplica(
                    sub_component_type=comp.effective_sub_component_type,
                    component_name=target.component_name,
                    desired_replicas=target.desired_replicas,
                )
            named.append(target)
        return ScaleRequest(
            caller_namespace=self.namespace,
            graph_deployment_name=self.settings.graph_deployment_name
            or os.environ.get("DYN_PARENT_DGD_K8S_NAME")
            or self.namespace,
            k8s_namespace=self.settings.k8s_namespace or os.environ.get("POD_NAMESPACE") or "default",
            target_replicas=named,
            blocking=blocking,
            timestamp=time.time(),
            predicted_load=load,
        )

    async def delegate_replicas(self, targets: list[TargetReplica], predicted_load: PredictedLoad | None) -> str:
        """Send ``targets`` with the forecast; the service's answer as one line (raises on refusal)."""
        return describe(await self._send(self._request(targets, False, predicted_load)))

    async def _send(self, request: ScaleRequest) -> ScaleResponse:
        if self.observe:
            raise ConnectorError(f"scaling refused: this connector only observes namespace {self.namespace}")
        if self.client is None:
            raise ConnectorError("the global connector is not initialized")
        try:
            answer = await self.client.send(request)
        except ServiceUnreachable as exc:
            self._service_problem = str(exc)
            raise
        self._service_problem = None
        if self._observer is not None and answer.status != "error":
            with contextlib.suppress(ConnectorError):
                await self._observer.refresh()  # the service changed the graph: show it at once
        self.last_answer = answer
        return answer

    async def set_component_replicas(self, targets: list[TargetReplica], blocking: bool = False) -> None:
        """Ask the Global Planner to set the targets (manual scales and pins come this way)."""
        await self._send(self._request(targets, blocking, None))

    async def scale_component(self, component_name: str, replicas: int) -> bool:
        """Ask the Global Planner to set one component's count; True when it accepted."""
        current = await self.get_component_replicas(component_name)
        await self.set_component_replicas([TargetReplica(component_name=component_name, desired_replicas=replicas)])
        return current != replicas

    # -- operations -----------------------------------------------------------------------------------
    async def restart_component(self, component_name: str, rolling: bool = True) -> bool:
        """Refused: the Global Planner's contract scales, it does not restart."""
        raise ConnectorError(
            f"restarting {component_name} is not delegated: the Global Planner only sets replica counts; "
            "restart it where the graph runs (the service's host, or kubectl)"
        )

    async def get_component_logs(self, component_name: str, lines: int = 100) -> list[LogLine]:
        """The component's last log lines, through the execution connector."""
        return await (await self._execution()).get_component_logs(component_name, lines)

    async def follow_component_logs(self, component_name: str) -> AsyncIterator[LogLine]:
        """New log lines of the component, through the execution connector."""
        source = await self._execution()
        async for line in source.follow_component_logs(component_name):
            yield line


class LocalDelegateConnector(DelegateConnector):
    """A delegating connector whose graph runs on this machine (``execution`` local): its replicas
    hold this host's GPUs and are its processes, so the collector and the dashboard read them as
    they do a local graph's (the capabilities of :mod:`planner_tui.connectors.capabilities`)."""

    async def _local(self) -> Any:
        return await self._execution()

    async def gpu_holders(self) -> dict[int, str]:
        """GPU index -> the replica holding it, as the graph's state file says."""
        holders: dict[int, str] = await (await self._local()).gpu_holders()
        return holders

    async def free_gpus(self) -> list[int]:
        """This graph's GPUs that no replica holds."""
        free: list[int] = await (await self._local()).free_gpus()
        return free

    async def replica_pids(self, component_name: str) -> dict[str, int]:
        """Live replica name -> its process id on this machine."""
        pids: dict[str, int] = await (await self._local()).replica_pids(component_name)
        return pids

    async def get_resource_usage(self, component_name: str) -> dict[str, Any]:
        """Per-replica CPU, memory and GPU use of the component's processes."""
        usage: dict[str, Any] = await (await self._local()).get_resource_usage(component_name)
        return usage
