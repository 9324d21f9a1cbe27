"""Async client of the simulated frontend's control endpoint (``planner-tui sim load``, the runtime Session).

The profile is the frontend's JSON form, e.g. ``{"kind": "constant", "rps": 12}`` or
``{"kind": "sine", "min_rps": 2, "max_rps": 18, "period_s": 180}`` (see :mod:`planner_tui.sim.profiles`).
Calls that change the load send the frontend's control token as ``Authorization: Bearer``: ``token`` when
given, else the one in its token file (:func:`planner_tui.loadcontrol.tokens.token_path_for_url`, which a frontend
started by the same user with the same state directory wrote). This module uses httpx; the sim processes
themselves never import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from planner_tui.connectors.errors import ConnectorError
from planner_tui.loadcontrol import tokens

DEFAULT_TIMEOUT_S = 5.0


class SimControlError(ConnectorError):
    """The frontend refused the request (``status`` 400: a bad profile; 401: no or a wrong token) or could
    not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


async def get_profile(base_url: str, *, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """The frontend's current load profile."""
    return await _call("GET", base_url, "/control/profile", None, client)


async def set_profile(
    base_url: str,
    profile: dict[str, Any],
    *,
    client: httpx.AsyncClient | None = None,
    token: str | None = None,
    token_file: str | Path | None = None,
) -> dict[str, Any]:
    """Switch the frontend to ``profile`` now; returns the profile it runs (ISL/OSL filled in).

    ``token`` (else the one in ``token_file``, else in the frontend's default token file) authorises it.
    """
    return await _call("POST", base_url, "/control/profile", profile, client, _auth(base_url, token, token_file))


async def scale_load(
    base_url: str,
    factor: float,
    *,
    client: httpx.AsyncClient | None = None,
    token: str | None = None,
    token_file: str | Path | None = None,
) -> dict[str, Any]:
    """Multiply the current request rate by ``factor`` (the shape and phase of the profile are kept).

    Authorised like :func:`set_profile`.
    """
    credentials = _auth(base_url, token, token_file)
    return await _call("POST", base_url, "/control/scale", {"factor": factor}, client, credentials)


async def get_stats(base_url: str, *, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """Request conservation figures: ``requests_in``, ``completed``, ``in_flight``, queues, workers."""
    return await _call("GET", base_url, "/sim/stats", None, client)


@dataclass(frozen=True, slots=True)
class _Auth:
    """The Authorization header to send; ``missing``: the token file looked for in vain (for the error)."""

    headers: dict[str, str]
    missing: Path | None = None


def _auth(base_url: str, token: str | None, token_file: str | Path | None) -> _Auth:
    """``token``, or the token from the frontend's file; with none, no header (the frontend answers 401)."""
    if token is None:
        path = tokens.token_path_for_url(base_url, token_file)
        try:
            token = tokens.read_token(path)
        except tokens.AuthError as exc:
            raise SimControlError(str(exc)) from None
        if token is None:
            return _Auth({}, path)
    return _Auth({"Authorization": f"Bearer {token}"})


async def _call(
    method: str,
    base_url: str,
    path: str,
    payload: dict[str, Any] | None,
    client: httpx.AsyncClient | None,
    credentials: _Auth | None = None,
) -> dict[str, Any]:
    url = base_url.rstrip("/") + path
    headers = credentials.headers if credentials else None
    missing = credentials.missing if credentials else None
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT_S) as own:
                response = await own.request(method, url, json=payload, headers=headers)
        else:
            response = await client.request(method, url, json=payload, headers=headers)
    except httpx.HTTPError as exc:
        raise SimControlError(
            f"no simulated frontend answers at {base_url} ({type(exc).__name__}: {exc}); "
            "is the demo running, and is the URL the frontend's (default port 21080)?"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        detail = str(body.get("error")) if isinstance(body, dict) else response.text.strip()
        if response.status_code == 401 and missing:
            detail += f" (no token file at {missing}: is the frontend run by you, with the same state directory?)"
        raise SimControlError(f"{method} {url}: {detail}", response.status_code)
    if not isinstance(body, dict):
        raise SimControlError(f"{method} {url}: expected a JSON object, got {response.text[:200]!r}")
    return body
