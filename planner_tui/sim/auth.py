"""The sim's bind-address rule, and its control token (re-exported from :mod:`planner_tui.loadcontrol.tokens`).

The token file's rules live in :mod:`planner_tui.loadcontrol.tokens`, shared with the clients (the CLI's
``sim load`` and the runtime Session); this module adds what only a sim server needs: the read-only
endpoints (``/metrics``, ``/health``, ``/sim/stats``, ``GET /control/profile``) stay open, on loopback
only, so sim servers refuse a non-loopback address unless asked (``--allow-remote``).
"""

from __future__ import annotations

import ipaddress

from planner_tui.loadcontrol.tokens import (
    TOKEN_FILE_ENV,
    TOKEN_FILE_NAME,
    AuthError,
    bearer_matches,
    new_token,
    read_token,
    remove_token,
    token_path,
    token_path_for_url,
    write_token,
)

__all__ = [
    "TOKEN_FILE_ENV",
    "TOKEN_FILE_NAME",
    "AuthError",
    "bearer_matches",
    "check_bind_host",
    "is_loopback",
    "new_token",
    "read_token",
    "remove_token",
    "token_path",
    "token_path_for_url",
    "write_token",
]


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (127.0.0.0/8, ::1); names other than localhost are not."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind_host(host: str, allow_remote: bool) -> None:
    """Raise ValueError (saying what to do) for a non-loopback ``host`` unless ``allow_remote``."""
    if allow_remote or is_loopback(host):
        return
    raise ValueError(
        f"refusing to listen on {host!r}: it is not a loopback address, so other machines could reach "
        "this simulated process (its /metrics and /health are not authenticated); use 127.0.0.1, "
        "or pass --allow-remote if you really mean it"
    )
