"""One writer per local graph: the process whose connectors start, scale and stop its replicas.

A local connector that may change the graph (not an observer) holds the graph's writer lease,
``<namespace>.executor`` (:mod:`planner_tui.config.leases`), from :meth:`initialize` to
:meth:`shutdown`. Connectors of one process share it (they coordinate through the state file's
lock); a connector of another process is refused, naming the holder: a ``plan`` cannot change a
graph a Global Planner service runs, nor the other way round. The kernel drops the lease when the
holder dies, so a graph left running is adopted by the next writer.
"""

from __future__ import annotations

import threading
from pathlib import Path

from planner_tui.config.leases import GraphLease, GraphOwnedError
from planner_tui.connectors.errors import ConnectorError

#: the lease name's suffix: ``<namespace>.executor``
WRITER_SUFFIX = ".executor"

_lock = threading.Lock()
#: (state dir, namespace) -> (lease, connectors of this process holding it)
_held: dict[tuple[Path, str], tuple[GraphLease, int]] = {}


def acquire_writer(namespace: str, state_dir: Path) -> None:
    """Hold the writer lease of ``namespace`` (under ``state_dir``) for one more connector of this process.

    Raises :class:`ConnectorError` naming the process that holds it when that is another process.
    """
    key = (state_dir, namespace)
    with _lock:
        held = _held.get(key)
        if held is not None:
            _held[key] = (held[0], held[1] + 1)
            return
        try:
            lease = GraphLease.try_take(namespace + WRITER_SUFFIX, state_dir)
        except GraphOwnedError as exc:
            raise ConnectorError(
                f"the graph of namespace {namespace} is run by {exc.owner.describe()}; only that process "
                "changes its replicas: observe it (a dashboard or status does), or stop that process first"
            ) from None
        _held[key] = (lease, 1)


def release_writer(namespace: str, state_dir: Path) -> None:
    """One connector of this process lets go; the lease is given up with the last one."""
    key = (state_dir, namespace)
    with _lock:
        held = _held.get(key)
        if held is None:
            return
        lease, count = held
        if count > 1:
            _held[key] = (lease, count - 1)
            return
        del _held[key]
        lease.release()
