"""The Global Planner service: who may ask, how often, what was asked before, and the record of it all.

:class:`GlobalPlanner` holds everything a request goes through, in order: the size limit, the
caller's token, the per-caller rate limit, validation, the caller's namespace against its token,
the allowlist, the idempotency key, then :class:`~planner_tui.globalplanner.scaling.Scaler`. Every
request, whatever becomes of it, is one record in the audit log (two for one that changes replicas:
its intent before, its outcome after). The HTTP layer (:mod:`planner_tui.globalplanner.app`) only
translates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from planner_tui.globalplanner.deployments import DeploymentRegistry
from planner_tui.globalplanner.idempotency import KEY_RE, IdempotencyCache, KeyReused, fingerprint
from planner_tui.globalplanner.ratelimit import RateLimiter
from planner_tui.globalplanner.requestlog import LogBacklogged, RequestLog, default_log_path, iso_time
from planner_tui.globalplanner.scaling import ScalePolicy, Scaler, error
from planner_tui.globalplanner.settings import MAX_TARGETS, ServiceSettings
from planner_tui.globalplanner.tokens import Caller, TokenTable
from planner_tui.model.scaling import ScaleRequest, ScaleResponse
from planner_tui.planner.audit import INTENT

log = logging.getLogger(__name__)

COMPONENT = "GlobalPlanner"


@dataclass
class Answer:
    """What the HTTP layer sends: a status code, a ScaleResponse-shaped body and extra headers."""

    http_status: int
    response: ScaleResponse
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Incoming:
    """One scale request as it arrived (before anything is checked)."""

    body: bytes
    authorization: str | None
    idempotency_key: str | None
    client: str
    too_large: bool = False
    started: float = field(default_factory=time.monotonic)


def _validation_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "body"
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    more = len(exc.errors()) - len(parts)
    return "invalid ScaleRequest: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


class GlobalPlanner:
    """The service's state; :meth:`start` opens the deployments and the audit log, :meth:`stop` closes them."""

    def __init__(self, settings: ServiceSettings) -> None:
        settings.check()
        self.settings = settings
        self.tokens = TokenTable.load(settings.token_file) if settings.token_file is not None else None
        self.registry = DeploymentRegistry(settings.environment, settings.pod_namespace, settings.graphs)
        self.scaler = Scaler(
            self.registry,
            ScalePolicy(
                managed_namespaces=settings.managed_namespaces,
                no_operation=settings.no_operation,
                max_total_gpus=settings.max_total_gpus,
                blocking_timeout_s=settings.blocking_timeout_s,
            ),
        )
        self.limiter = RateLimiter(settings.rate_per_s, settings.burst) if settings.rate_per_s > 0 else None
        self.idempotency: IdempotencyCache[Answer] = IdempotencyCache()
        self.log = RequestLog(settings.audit_log or default_log_path(settings.namespace))
        self.started_at = time.time()
        self.requests = 0

    # -- lifecycle -----------------------------------------------------------------------------------
    async def start(self) -> None:
        """Open the audit log, then start (or adopt) the local graphs."""
        self.log.start()
        try:
            if not self.settings.no_operation:
                await self.registry.start()
        except BaseException:
            self.log.stop()
            raise

    async def stop(self) -> None:
        """Close the deployments (stopping the local graphs this service runs unless told to keep them)."""
        try:
            await self.registry.close(stop_graphs=self.settings.stop_graphs)
        finally:
            self.log.stop()

    # -- what the endpoints answer --------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The seed's health shape."""
        managed = self.settings.managed_namespaces
        return {
            "status": "healthy",
            "component": COMPONENT,
            "namespace": self.settings.namespace,
            "managed_namespaces": sorted(managed) if managed is not None else "all",
        }

    def authorize_viewer(self, authorization: str | None) -> bool:
        """Whether a status reader may read (anyone without a token file; else a viewer's token)."""
        if self.tokens is None:
            return True
        caller = self.tokens.identify(authorization)
        return caller is not None and caller.role == "viewer"

    async def status(self) -> dict[str, Any]:
        """The dashboard's view: deployments and their replicas, the GPU budget, recent requests."""
        deployments = []
        for deployment in self.registry.deployments:
            try:
                states = await deployment.connector.get_component_states()
                problems = list(deployment.connector.problems)
            except Exception as exc:
                states, problems = {}, [f"cannot read: {exc}"]
            deployments.append(
                {
                    "key": deployment.key,
                    "owner": deployment.owner,
                    "backend": deployment.connector.label,
                    "problems": problems,
                    "components": {
                        name: {
                            "sub_component_type": s.spec.sub_component_type,
                            "desired": s.desired_replicas,
                            "ready": s.ready_replicas,
                            "replicas": len(s.replicas),
                            "gpus_per_replica": s.spec.gpus_per_replica,
                        }
                        for name, s in states.items()
                    },
                }
            )
        gpus_used: int | None
        try:
            gpus_used = await self.scaler.gpus_in_use()
        except Exception:
            gpus_used = None
        return {
            **self.health(),
            "environment": self.settings.environment,
            "no_operation": self.settings.no_operation,
            "max_total_gpus": self.settings.max_total_gpus,
            "gpus_used": gpus_used,
            "started_at": self.started_at,
            "requests": self.requests,
            "deployments": deployments,
            "recent": [_recent(r) for r in list(self.log.recent)[-50:]],
        }

    async def scale_request(self, incoming: Incoming) -> Answer:
        """Answer one scale request (never raises for anything the caller sent)."""
        self.requests += 1
        record: dict[str, Any] = {
            "timestamp": time.time(),
            "kind": "scale_request",
            "client": incoming.client,
            "request_id": incoming.idempotency_key if incoming.idempotency_key is not None else None,
        }
        answer = await self._answer(incoming, record)
        record["latency_ms"] = round((time.monotonic() - incoming.started) * 1000, 3)
        record |= {
            "http_status": answer.http_status,
            "status": answer.response.status,
            "message": answer.response.message,
            "current_replicas": answer.response.current_replicas,
        }
        record["time"] = iso_time(record["timestamp"])
        record["summary"] = _summary(record)
        try:
            await self.log.write(record)
        except LogBacklogged as exc:
            return Answer(503, error(f"the audit log is backlogged ({exc}); try again"), {"Retry-After": "1"})
        except OSError as exc:
            log.error("%s", exc)
            return Answer(503, error(f"the request was handled but its record could not be written: {exc}"))
        return answer

    async def _answer(self, incoming: Incoming, record: dict[str, Any]) -> Answer:
        if incoming.too_large:
            return Answer(413, error(f"request body over {self.settings.max_body_bytes} bytes"))
        caller: Caller | None = None
        if self.tokens is not None:
            caller = self.tokens.identify(incoming.authorization)
            record["caller"] = caller.name if caller else None
        limited = self._rate_limited(caller.name if caller else f"address {incoming.client}")
        if limited is not None:
            return limited
        if self.tokens is not None and caller is None:
            why = "no bearer token" if not incoming.authorization else "unknown bearer token"
            return Answer(
                401,
                error(f"{why}: send Authorization: Bearer <your namespace's token>"),
                {"WWW-Authenticate": "Bearer"},
            )
        if caller is not None and caller.role != "namespace":
            return Answer(403, error(f"{caller.name} is a viewer: it may read the status, not scale"))
        try:
            request = ScaleRequest.model_validate_json(incoming.body)
        except ValidationError as exc:
            return Answer(422, error(_validation_message(exc)))
        record["request"] = request.model_dump(mode="json")
        record["caller"] = request.caller_namespace if caller is None else caller.name
        if len(request.target_replicas) > MAX_TARGETS:
            return Answer(422, error(f"at most {MAX_TARGETS} target_replicas per request"))
        if caller is not None and request.caller_namespace != caller.name:
            return Answer(
                403,
                error(f"the token is {caller.name}'s; it cannot send requests as namespace {request.caller_namespace}"),
            )
        refused = self.scaler.refusal(request)
        if refused is not None:
            return Answer(200, refused)
        key = incoming.idempotency_key
        if key is None:
            return await self._apply(request, record)
        if not KEY_RE.match(key):
            return Answer(422, error("Idempotency-Key must be 1-128 letters, digits or '._:-'"))
        try:
            answer, replayed = await self.idempotency.run(
                record["caller"],
                key,
                fingerprint(request.model_dump_json().encode()),
                lambda: self._apply(request, record),
            )
        except KeyReused as exc:
            return Answer(422, error(str(exc)))
        if replayed:
            record["replayed"] = True
            return Answer(answer.http_status, answer.response, {**answer.headers, "Idempotent-Replayed": "true"})
        return answer

    def _rate_limited(self, key: str) -> Answer | None:
        if self.limiter is None:
            return None
        wait = self.limiter.acquire(key)
        if wait is None:
            return None
        from planner_tui.globalplanner.ratelimit import retry_after_header

        return Answer(
            429,
            error(f"rate limit: at most {self.settings.rate_per_s:g} requests/s (bursts of {self.settings.burst})"),
            {"Retry-After": retry_after_header(wait)},
        )

    async def _apply(self, request: ScaleRequest, record: dict[str, Any]) -> Answer:
        if not self.settings.no_operation:
            intent = {**record, "time": iso_time(record["timestamp"]), "status": "applying"}
            intent["summary"] = _summary(intent)
            await self.log.write(intent, INTENT)  # on disk before anything changes
        return Answer(200, await self.scaler.scale(request))


def _summary(record: dict[str, Any]) -> str:
    request = record.get("request") or {}
    targets = " ".join(
        f"{t.get('component_name') or t.get('sub_component_type')}={t.get('desired_replicas')}"
        for t in request.get("target_replicas", [])
    )
    where = f"{request.get('k8s_namespace')}/{request.get('graph_deployment_name')}" if request else "-"
    caller = record.get("caller") or "?"
    status = record.get("status", "?")
    if record.get("replayed"):
        status += " (replayed)"
    latency = record.get("latency_ms")
    tail = f" ({latency:.0f} ms)" if isinstance(latency, int | float) else ""
    message = record.get("message") or ""
    return f"{caller} -> {where} {targets or '(no targets)'} | {status}: {message}{tail}".strip()


def _recent(record: dict[str, Any]) -> dict[str, Any]:
    request = record.get("request") or {}
    return {
        "time": record.get("timestamp"),
        "caller": record.get("caller"),
        "deployment": (f"{request.get('k8s_namespace')}/{request.get('graph_deployment_name')}" if request else None),
        "targets": {
            str(t.get("component_name") or t.get("sub_component_type")): t.get("desired_replicas")
            for t in request.get("target_replicas", [])
        },
        "http_status": record.get("http_status"),
        "status": record.get("status"),
        "message": record.get("message"),
        "latency_ms": record.get("latency_ms"),
        "replayed": bool(record.get("replayed")),
    }
