"""Sending ScaleRequests to a Global Planner: one request id per change, retries, timeouts, clear errors.

A change gets one ``Idempotency-Key``; every retry of it carries the same key, so a request that
reached the service but whose answer was lost is not applied twice. Retried: no answer (connection
refused or reset, a timeout), HTTP 5xx and 429 (after its ``Retry-After``, at most the request
timeout). Not retried: the service's ``error`` answers and the HTTP refusals (401, 403, 413, 422),
whose messages say what to fix.
"""

from __future__ import annotations

import asyncio
import uuid

import httpx

from planner_tui.connectors.errors import ConnectorError, ScalingRefused
from planner_tui.model.scaling import ScaleRequest, ScaleResponse

#: first pause between tries (seconds), doubled each time up to BACKOFF_CAP_S
BACKOFF_S = 0.2
BACKOFF_CAP_S = 5.0


class ServiceUnreachable(ConnectorError):
    """No answer from the Global Planner after every try."""


class GlobalPlannerClient:
    """Talks to one Global Planner (``address``, the service's ``namespace``) as one caller."""

    def __init__(self, address: str, service_namespace: str, token: str | None, timeout_s: float, retries: int) -> None:
        self.address = address.rstrip("/")
        self.base = f"{self.address}/{service_namespace}/GlobalPlanner"
        self.timeout_s = timeout_s
        self.retries = retries
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.AsyncClient(timeout=timeout_s, headers=headers, trust_env=False)

    async def close(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def health(self) -> dict[str, object]:
        """The service's health answer; ServiceUnreachable when it gives none."""
        try:
            response = await self._http.get(f"{self.base}/health")
            response.raise_for_status()
            data = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnreachable(f"the Global Planner at {self.address} does not answer: {_reason(exc)}") from None
        if not isinstance(data, dict) or data.get("status") != "healthy":
            raise ServiceUnreachable(f"the Global Planner at {self.address} is not healthy: {data!r}")
        return data

    async def send(self, request: ScaleRequest) -> ScaleResponse:
        """The service's answer to ``request`` (``success`` or ``scaling``); raises otherwise.

        ScalingRefused for an ``error`` answer, ConnectorError for an HTTP refusal, ServiceUnreachable
        when every try went unanswered.
        """
        key = uuid.uuid4().hex
        body = request.model_dump(mode="json")
        last = "no try made"
        for attempt in range(self.retries + 1):
            if attempt:
                await asyncio.sleep(min(BACKOFF_CAP_S, BACKOFF_S * 2 ** (attempt - 1)))
            try:
                response = await self._http.post(
                    f"{self.base}/scale_request", json=body, headers={"Idempotency-Key": key}
                )
            except httpx.HTTPError as exc:
                last = _reason(exc)
                continue
            answer = _scale_response(response)
            if response.status_code == 429:
                last = f"rate limited ({answer.message if answer else response.text[:200]})"
                await asyncio.sleep(min(self.timeout_s, _retry_after(response)))
                continue
            if response.status_code >= 500:
                last = f"HTTP {response.status_code}: {answer.message if answer else response.text[:200]}"
                continue
            if answer is None:
                raise ConnectorError(
                    f"the Global Planner at {self.address} answered HTTP {response.status_code} with no ScaleResponse"
                )
            if response.status_code != 200:
                raise ConnectorError(
                    f"the Global Planner at {self.address} refused the request (HTTP {response.status_code}): "
                    f"{answer.message}{_fix(response.status_code)}"
                )
            if answer.status == "error":
                raise ScalingRefused(f"the Global Planner refused: {answer.message}")
            return answer
        tries = "1 try" if self.retries == 0 else f"{self.retries + 1} tries"
        raise ServiceUnreachable(f"the Global Planner at {self.address} did not answer after {tries}: {last}")


def _scale_response(response: httpx.Response) -> ScaleResponse | None:
    try:
        return ScaleResponse.model_validate_json(response.content)
    except ValueError:
        return None


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _fix(status: int) -> str:
    if status == 401:
        return "; check [connector] token_file (the token the service's token file gives this namespace)"
    if status == 403:
        return "; the token must be this graph's namespace's"
    return ""


def _reason(exc: BaseException) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out ({type(exc).__name__})"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect ({exc})" if str(exc) else "cannot connect"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
