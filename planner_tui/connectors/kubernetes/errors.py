"""What a failed Kubernetes API call means, in words a person can act on.

``explain`` turns an exception of the client into a :class:`ConnectorError` subclass: a 401/403
names the verb and the resource the RBAC role lacks; a connection failure (or a 5xx) is
:class:`ApiUnreachable`, which the connector answers with backoff and a degraded state.
"""

from __future__ import annotations

import json
from typing import Any

from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.kubernetes.client import Resource

RBAC_HINT = "grant it in the planner's Role (see examples/k8s/rbac.yaml) or use another context"
TRANSIENT_STATUS = frozenset({0, 429, 500, 502, 503, 504})


class ApiUnreachable(ConnectorError):
    """The API server did not answer (refused, timed out, 5xx); worth retrying with backoff."""


class AccessDenied(ConnectorError):
    """The API server refused the credentials (401) or RBAC refused the request (403)."""

    def __init__(self, message: str, verb: str, resource: Resource) -> None:
        super().__init__(message)
        self.verb = verb
        self.resource = resource


class ApiRefused(ConnectorError):
    """Any other refusal (404, 409, 422, ...); ``status`` is the HTTP status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a client ``ApiException`` (None for other errors)."""
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        return int(exc.status or 0)
    return None


def server_message(exc: BaseException) -> str:
    """The ``message`` of the API server's Status body, else the HTTP reason."""
    body: Any = getattr(exc, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str) and body:
        try:
            message = json.loads(body).get("message")
        except (ValueError, AttributeError):
            message = None
        if isinstance(message, str) and message:
            return message[:500]
    return str(getattr(exc, "reason", "") or exc)[:500]


def is_unreachable(exc: BaseException) -> bool:
    """True for a failure to talk to the API server at all (connection, timeout, TLS, 5xx)."""
    import urllib3

    status = status_of(exc)
    if status is not None:
        return status in TRANSIENT_STATUS
    return isinstance(exc, urllib3.exceptions.HTTPError | OSError | TimeoutError | ApiUnreachable)


def explain(
    exc: BaseException, verb: str, resource: Resource, what: str, server: str, namespace: str
) -> ConnectorError:
    """A ConnectorError for ``exc`` raised while doing ``verb`` on ``resource`` (``what``: the object)."""
    if isinstance(exc, ConnectorError):
        return exc
    status = status_of(exc)
    if status in (401, 403):
        who = "authentication failed" if status == 401 else "access denied"
        return AccessDenied(
            f"{who}: the Kubernetes API at {server} refused to {verb} {resource.qualified} ({what}) in "
            f"namespace {namespace} (HTTP {status}: {server_message(exc)}); the role needs verb {verb!r} on "
            f"{resource.qualified!r}: {RBAC_HINT}",
            verb,
            resource,
        )
    if is_unreachable(exc):
        reason = server_message(exc) if status else _connection_reason(exc)
        return ApiUnreachable(f"Kubernetes API at {server} not reachable ({verb} {what}): {reason}")
    if status is not None:
        return ApiRefused(
            f"the Kubernetes API at {server} refused to {verb} {what} in namespace {namespace} "
            f"(HTTP {status}: {server_message(exc)})",
            status,
        )
    return ConnectorError(f"{verb} {what} on the Kubernetes API at {server} failed: {exc!r}")


def _connection_reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)  # MaxRetryError wraps the real one
    text = str(reason or exc)
    if "Connection refused" in text:
        return "connection refused"
    if "timed out" in text.lower():
        return "timed out"
    return text[:300]
