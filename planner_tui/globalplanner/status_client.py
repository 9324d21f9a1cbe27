"""Reading a Global Planner's status endpoint (what its dashboard shows), as a viewer."""

from __future__ import annotations

from typing import Any

import httpx

from planner_tui.config.secrets import SecretFileError, read_private_text


class StatusError(Exception):
    """The status could not be read; the message says why and what to do."""


def viewer_token(path: str | None) -> str | None:
    """The viewer's token from its file (0600), or None when there is no file."""
    if path is None:
        return None
    try:
        return read_private_text(path).strip() or None
    except SecretFileError as exc:
        raise StatusError(str(exc)) from None


async def fetch_status(client: httpx.AsyncClient, address: str, namespace: str, token: str | None) -> dict[str, Any]:
    """``GET /<namespace>/GlobalPlanner/status``; :class:`StatusError` when it does not answer with one."""
    url = f"{address.rstrip('/')}/{namespace}/GlobalPlanner/status"
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = await client.get(url, headers=headers)
    except httpx.HTTPError as exc:
        raise StatusError(f"no answer from {url}: {exc or type(exc).__name__}") from None
    if response.status_code == 401:
        raise StatusError(f"{url} needs a viewer's token: --token-file FILE (`global-planner token NAME --viewer`)")
    if response.status_code != 200:
        raise StatusError(f"{url} answered HTTP {response.status_code}")
    try:
        data = response.json()
    except ValueError:
        raise StatusError(f"{url} did not answer JSON") from None
    if not isinstance(data, dict):
        raise StatusError(f"{url} did not answer a status object")
    return data
