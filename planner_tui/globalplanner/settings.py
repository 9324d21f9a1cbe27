"""The Global Planner service's settings (the command line's options), checked before anything starts."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path

from planner_tui.config.graph import GraphConfig
from planner_tui.globalplanner.deployments import Environment

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8411
#: the largest request body accepted (a scale request is a few hundred bytes)
DEFAULT_MAX_BODY_BYTES = 64 * 1024
#: most targets one request may carry
MAX_TARGETS = 256
#: Dynamo namespaces: letters, digits, '-', '_' and '.'
NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$")


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the option and the fix."""


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceSettings:
    """What a Global Planner serves and how (see ``planner-tui global-planner --help``)."""

    namespace: str
    pod_namespace: str = "default"
    managed_namespaces: frozenset[str] | None = None
    environment: Environment = "kubernetes"
    no_operation: bool = False
    max_total_gpus: int = -1
    graphs: dict[str, GraphConfig] = field(default_factory=dict)
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    allow_remote: bool = False
    token_file: Path | None = None
    rate_per_s: float = 20.0
    burst: int = 40
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    blocking_timeout_s: float = 60.0
    audit_log: Path | None = None
    stop_graphs: bool = True

    def check(self) -> None:
        """Raise :class:`SettingsError` for settings the service must not run with."""
        if not NAMESPACE_RE.match(self.namespace):
            raise SettingsError(
                f"DYN_NAMESPACE {self.namespace!r} is not a namespace (letters, digits, '.', '_', '-'); "
                "set DYN_NAMESPACE=<namespace>"
            )
        if not is_loopback(self.host):
            if not self.allow_remote:
                raise SettingsError(
                    f"--host {self.host} listens beyond this machine; add --allow-remote (and --token-file) to mean it"
                )
            if self.token_file is None:
                raise SettingsError(
                    f"--host {self.host} listens beyond this machine: give --token-file so callers authenticate"
                )
        if self.environment == "local" and not self.graphs and not self.no_operation:
            raise SettingsError("--environment local needs at least one --graph NAME=FILE to run")
        if self.max_total_gpus < -1:
            raise SettingsError(f"--max-total-gpus must be -1 (unlimited) or >= 0, got {self.max_total_gpus}")
        if self.blocking_timeout_s <= 0:
            raise SettingsError("--blocking-timeout must be > 0 seconds")
        if self.max_body_bytes < 1024:
            raise SettingsError("--max-body-bytes must be at least 1024")
        namespaces = [g.namespace for g in self.graphs.values()]
        duplicated = sorted({n for n in namespaces if namespaces.count(n) > 1})
        if duplicated:
            raise SettingsError(f"two --graph files run namespace {', '.join(duplicated)}; give each graph its own")
