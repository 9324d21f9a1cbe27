"""Async client of the simulated frontend's control endpoint (used by ``planner-tui sim load`` and the dashboard).

The profile is the frontend's JSON form, e.g. ``{"kind": "constant", "rps": 12}`` or
``{"kind": "sine", "min_rps": 2, "max_rps": 18, "period_s": 180}`` (see :mod:`planner_tui.sim.profiles`).
This module uses httpx; the sim processes themselves never import it.
"""

from __future__ import annotations

from typing import Any

import httpx

from planner_tui.connectors.errors import ConnectorError

DEFAULT_TIMEOUT_S = 5.0


class SimControlError(ConnectorError):
    """The frontend refused the request (``status`` 400: a bad profile) or could not be reached."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


async def get_profile(base_url: str, *, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """The frontend's current load profile."""
    return await _call("GET", base_url, "/control/profile", None, client)


async def set_profile(
    base_url: str, profile: dict[str, Any], *, client: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    """Switch the frontend to ``profile`` now; returns the profile it runs (ISL/OSL filled in)."""
    return await _call("POST", base_url, "/control/profile", profile, client)


async def scale_load(base_url: str, factor: float, *, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """Multiply the current request rate by ``factor`` (the shape and phase of the profile are kept)."""
    return await _call("POST", base_url, "/control/scale", {"factor": factor}, client)


async def get_stats(base_url: str, *, client: httpx.AsyncClient | None = None) -> dict[str, Any]:
    """Request conservation figures: ``requests_in``, ``completed``, ``in_flight``, queues, workers."""
    return await _call("GET", base_url, "/sim/stats", None, client)


async def _call(
    method: str, base_url: str, path: str, payload: dict[str, Any] | None, client: httpx.AsyncClient | None
) -> dict[str, Any]:
    url = base_url.rstrip("/") + path
    try:
        if client is None:
            async with httpx.AsyncClient(timeout=DEFAULT_TIMEOUT_S) as own:
                response = await own.request(method, url, json=payload)
        else:
            response = await client.request(method, url, json=payload)
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
        detail = body.get("error") if isinstance(body, dict) else response.text.strip()
        raise SimControlError(f"{method} {url}: {detail}", response.status_code)
    if not isinstance(body, dict):
        raise SimControlError(f"{method} {url}: expected a JSON object, got {response.text[:200]!r}")
    return body
