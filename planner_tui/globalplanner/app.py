"""The HTTP face of the Global Planner (FastAPI): the seed's two endpoints, a status endpoint, OpenAPI.

Given ``DYN_NAMESPACE=<ns>``:

- ``POST /<ns>/GlobalPlanner/scale_request``: a ``ScaleRequest`` in, a ``ScaleResponse`` out. Scaling
  outcomes (success, scaling, error: not authorized, GPU budget, unknown deployment) are HTTP 200
  as in the contract; requests refused before they are looked at get an HTTP error with the same
  body shape: 401 no or unknown token, 403 a token used for another namespace, 413 too large, 422
  not a valid ScaleRequest, 429 rate limited (``Retry-After``), 503 audit log unwritable.
  ``Idempotency-Key`` names a request so a retry is not applied twice.
- ``GET /<ns>/GlobalPlanner/health``: ``status``, ``component``, ``namespace``, ``managed_namespaces``.
- ``GET /<ns>/GlobalPlanner/status``: deployments, GPU budget, recent requests (the dashboard's
  feed; a viewer's token when the service has a token file).
- ``GET /openapi.json`` and ``/docs``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Header, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse

from planner_tui.globalplanner.idempotency import HEADER as IDEMPOTENCY_HEADER
from planner_tui.globalplanner.service import COMPONENT, GlobalPlanner, Incoming
from planner_tui.model.scaling import ScaleRequest, ScaleResponse

_ERROR_BODY = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScaleResponse"}}}}
_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "no or unknown bearer token", **_ERROR_BODY},
    403: {"description": "the token is another namespace's, or a viewer's", **_ERROR_BODY},
    413: {"description": "request body too large", **_ERROR_BODY},
    422: {"description": "not a valid ScaleRequest, or an Idempotency-Key reused for another request", **_ERROR_BODY},
    429: {"description": "rate limited; see Retry-After", **_ERROR_BODY},
    503: {"description": "the audit log cannot be written", **_ERROR_BODY},
}


async def _read_body(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, or (b"", True) as soon as it passes ``limit`` bytes (never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                return b"", True
        except ValueError:
            pass
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
    return b"".join(chunks), False


def create_app(service: GlobalPlanner, *, manage_lifecycle: bool = True) -> FastAPI:
    """The ASGI app for ``service`` (``manage_lifecycle``: start and stop it with the app)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if manage_lifecycle:
            await service.start()
        try:
            yield
        finally:
            if manage_lifecycle:
                await service.stop()

    ns = service.settings.namespace
    app = FastAPI(
        title="planner-tui Global Planner",
        version="1",
        description="Central scaling service for planners that delegate (the Dynamo GlobalPlanner contract).",
        lifespan=lifespan,
    )
    limit = service.settings.max_body_bytes

    @app.post(
        f"/{ns}/{COMPONENT}/scale_request",
        response_model=ScaleResponse,
        responses=_REFUSALS,
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScaleRequest"}}},
            }
        },
        summary="Set replica counts of a deployment",
    )
    async def scale_request(
        request: Request,
        idempotency_key: str | None = Header(None, alias=IDEMPOTENCY_HEADER, max_length=128),
    ) -> JSONResponse:
        body, too_large = await _read_body(request, limit)
        client = request.client.host if request.client else "?"
        answer = await service.scale_request(
            Incoming(body, request.headers.get("authorization"), idempotency_key, client, too_large)
        )
        return JSONResponse(answer.response.model_dump(mode="json"), answer.http_status, headers=answer.headers)

    @app.get(f"/{ns}/{COMPONENT}/health", summary="Health (the seed's shape)")
    async def health() -> dict[str, Any]:
        return service.health()

    @app.get(
        f"/{ns}/{COMPONENT}/status",
        summary="Managed deployments, GPU budget and recent requests",
        responses={401: {"description": "a viewer's bearer token is needed"}},
    )
    async def status(request: Request) -> JSONResponse:
        if not service.authorize_viewer(request.headers.get("authorization")):
            return JSONResponse(
                {"detail": "send Authorization: Bearer <a viewer's token> (the token file's [viewers])"},
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        return JSONResponse(await service.status())

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ScaleRequest, ScaleResponse):
                definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(definition.pop("$defs", {}))
                components[model.__name__] = definition
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
