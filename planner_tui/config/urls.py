"""URLs a graph file gives the collector (metrics, health, GPU metrics, Prometheus): http(s) with a host.

Credentials in a URL (``http://user:password@host/...``) are accepted: the collector sends them as
Basic auth (through httpx, its reference HTTP path), never in the Host header, and every message that
names the URL shows it through :func:`redact_url` (``user:***@host``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

ALLOWED_SCHEMES = ("http", "https")


def redact_url(url: str) -> str:
    """``url`` with the password of its userinfo, if any, replaced by ``***`` (for messages and logs)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    end = next((i for i, c in enumerate(rest) if c in "/?#"), len(rest))  # the authority ends there
    userinfo, at, host = rest[:end].rpartition("@")
    if not at:
        return url
    user = userinfo.partition(":")[0]
    return f"{scheme}://{user}:***@{host}{rest[end:]}"


def url_problem(url: str, shown: str | None = None) -> str | None:
    """Why ``url`` cannot be fetched over http(s), or None when it can.

    ``shown`` is what the message quotes (the template the URL was rendered from); defaults to ``url``.
    """
    quoted = repr(redact_url(url if shown is None else shown))
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
