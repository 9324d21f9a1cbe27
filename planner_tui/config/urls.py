"""URLs a graph file gives the collector (metrics, health, GPU metrics, Prometheus): http(s) with a host."""

from __future__ import annotations

from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")


def url_problem(url: str, shown: str | None = None) -> str | None:
    """Why ``url`` cannot be fetched over http(s), or None when it can.

    ``shown`` is what the message quotes (the template the URL was rendered from); defaults to ``url``.
    """
    quoted = repr(url if shown is None else shown)
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number in 0..65535 raises here
    except ValueError as exc:
        return f"expected an http:// or https:// URL with a host, got {quoted}: {exc}"
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        return f"only http and https URLs are allowed, got {quoted}"
    if not parts.hostname:
        return f"the URL has no host, got {quoted}"
    import httpx  # the client the collector uses; imported here so reading a graph file stays light

    try:
        httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        return f"expected an http:// or https:// URL with a host, got {quoted}: {exc}"
    return None
