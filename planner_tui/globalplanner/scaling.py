"""The scale request's semantics, without HTTP: allowlist, no-operation, GPU budget, apply, blocking wait.

Upstream's behaviour (REFERENCE.md section 6), kept: an unlisted caller gets ``error`` ("Namespace X
not authorized") and nothing is scaled; ``--no-operation`` answers ``success`` with empty
``current_replicas``; ``--max-total-gpus N`` sums replicas x GPUs per replica over the managed
deployments with the requested replicas in place of the current ones, under one lock with the apply,
so two callers racing for the last GPUs cannot both pass. Any failure is an ``error`` answer with
the reason; nothing here raises to the HTTP layer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass

from planner_tui.connectors.errors import ConnectorError
from planner_tui.globalplanner.deployments import Deployment, DeploymentRegistry, UnknownDeployment
from planner_tui.model.components import ComponentState
from planner_tui.model.scaling import ScaleRequest, ScaleResponse, TargetReplica

log = logging.getLogger(__name__)

#: how often a blocking request looks at the replicas it waits for (seconds)
STABILITY_POLL_S = 0.1


@dataclass(frozen=True, slots=True)
class ScalePolicy:
    """The service's options that shape every answer."""

    managed_namespaces: frozenset[str] | None = None
    no_operation: bool = False
    max_total_gpus: int = -1
    blocking_timeout_s: float = 60.0


def error(message: str) -> ScaleResponse:
    """An ``error`` answer."""
    return ScaleResponse(status="error", message=message, current_replicas={})


def resolve(states: Mapping[str, ComponentState], target: TargetReplica) -> str:
    """The component a target names (by name, else by ``sub_component_type``); ValueError when none or several."""
    if target.component_name is not None:
        if target.component_name not in states:
            raise ValueError(
                f"unknown component {target.component_name!r}; the deployment has {', '.join(sorted(states))}"
            )
        return target.component_name
    matches = [n for n, s in states.items() if s.spec.sub_component_type == target.sub_component_type]
    if len(matches) != 1:
        what = "no component" if not matches else f"several components ({', '.join(matches)})"
        raise ValueError(f"{what} with sub_component_type {target.sub_component_type!r}; name the component instead")
    return matches[0]


def current_replicas(states: Mapping[str, ComponentState]) -> dict[str, int]:
    """Desired replicas by ``sub_component_type`` (prefill, decode), other components by name."""
    return {(s.spec.sub_component_type or name): s.desired_replicas for name, s in states.items()}


class Scaler:
    """Answers scale requests against the registry's deployments."""

    def __init__(self, registry: DeploymentRegistry, policy: ScalePolicy) -> None:
        self.registry = registry
        self.policy = policy
        self._budget_lock = asyncio.Lock()

    def refusal(self, request: ScaleRequest) -> ScaleResponse | None:
        """The answer to a request refused before anything is looked up (allowlist), else None."""
        allowed = self.policy.managed_namespaces
        if allowed is not None and request.caller_namespace not in allowed:
            return error(f"Namespace {request.caller_namespace} not authorized")
        return None

    async def gpus_in_use(self) -> int:
        """GPUs the managed deployments' desired replicas hold now."""
        total = 0
        for deployment in self.registry.deployments:
            states = await deployment.connector.get_component_states()
            total += sum(s.desired_replicas * s.spec.gpus_per_replica for s in states.values())
        return total

    async def _gpus_after(self, target: Deployment, wanted: Mapping[str, int]) -> int:
        total = 0
        for deployment in self.registry.deployments:
            states = await deployment.connector.get_component_states()
            for name, state in states.items():
                replicas = wanted.get(name, state.desired_replicas) if deployment is target else state.desired_replicas
                total += replicas * state.spec.gpus_per_replica
        return total

    async def scale(self, request: ScaleRequest) -> ScaleResponse:
        """Apply ``request`` (already authenticated and allowed) and answer it."""
        if self.policy.no_operation:
            wanted = {
                t.component_name or t.sub_component_type or "?": t.desired_replicas for t in request.target_replicas
            }
            log.info(
                "[no-operation] scale request from %s for %s/%s: %s",
                request.caller_namespace,
                request.k8s_namespace,
                request.graph_deployment_name,
                wanted,
            )
            return ScaleResponse(
                status="success",
                message="[no-operation] Scale request received and logged (not executed)",
                current_replicas={},
            )
        try:
            return await self._scale(request)
        except Exception as exc:  # a connector's or anything unexpected: an answer, never a 500
            log.exception("scale request from %s failed", request.caller_namespace)
            return error(f"{type(exc).__name__}: {exc}" if not isinstance(exc, ConnectorError) else str(exc))

    async def _scale(self, request: ScaleRequest) -> ScaleResponse:
        try:
            deployment = await self.registry.get(request.k8s_namespace, request.graph_deployment_name)
        except UnknownDeployment as exc:
            return error(str(exc))
        if deployment.owner is not None and request.caller_namespace != deployment.owner:
            return error(
                f"Namespace {request.caller_namespace} may not scale {deployment.key}: it belongs to namespace "
                f"{deployment.owner}"
            )
        if not request.target_replicas:
            return error("target_replicas is empty: name at least one component and its desired replicas")
        async with self._budget_lock:
            states = await deployment.connector.get_component_states()
            wanted: dict[str, int] = {}
            try:
                for target in request.target_replicas:
                    name = resolve(states, target)
                    if wanted.get(name, target.desired_replicas) != target.desired_replicas:
                        raise ValueError(f"two targets for {name}: {wanted[name]} and {target.desired_replicas}")
                    wanted[name] = target.desired_replicas
            except ValueError as exc:
                return error(f"{deployment.key}: {exc}")
            limit = self.policy.max_total_gpus
            if limit >= 0:
                total = await self._gpus_after(deployment, wanted)
                if total > limit:
                    return error(f"GPU budget exceeded: request would use {total} total GPUs, max allowed is {limit}")
            targets = [TargetReplica(component_name=n, desired_replicas=r) for n, r in wanted.items()]
            await deployment.connector.set_component_replicas(targets, blocking=False)
        if request.blocking:
            pending = await self._wait_stable(deployment, wanted, self.policy.blocking_timeout_s)
            if pending:
                states = await deployment.connector.get_component_states()
                return ScaleResponse(
                    status="scaling",
                    message=(
                        f"{deployment.key} still scaling after {self.policy.blocking_timeout_s:g} s: "
                        + ", ".join(pending)
                    ),
                    current_replicas=current_replicas(states),
                )
        states = await deployment.connector.get_component_states()
        return ScaleResponse(
            status="success",
            message=f"Scaled {request.graph_deployment_name} successfully",
            current_replicas=current_replicas(states),
        )

    async def _wait_stable(self, deployment: Deployment, wanted: Mapping[str, int], timeout: float) -> list[str]:
        """Wait until every wanted component is stable at its count; what is still pending at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            states = await deployment.connector.get_component_states()
            pending = [
                f"{name} {states[name].ready_replicas}/{count} ready"
                for name, count in wanted.items()
                if not (states[name].desired_replicas == count and states[name].is_stable)
            ]
            if not pending or time.monotonic() >= deadline:
                return pending
            await asyncio.sleep(min(STABILITY_POLL_S, max(0.0, deadline - time.monotonic())))
