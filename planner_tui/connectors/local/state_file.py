"""The namespace state file: what a second planner-tui needs to attach to a running graph.

One JSON file per namespace (``<state dir>/local/<namespace>.json``) holds the graph, circusd's pid
and endpoints, the desired replica counts and every replica's GPUs, port and pid. It is written
atomically (temp file, fsync, rename) while holding ``<state dir>/local/allocations.lock``, the one
lock that also serialises GPU and port allocation across every namespace and process.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from planner_tui.config.paths import PRIVATE_FILE_MODE, private_dir
from planner_tui.config.paths import state_dir as default_state_dir
from planner_tui.connectors.errors import ConnectorError
from planner_tui.connectors.local.circusd import CircusdHandle

if TYPE_CHECKING:
    from filelock import FileLock

FORMAT_VERSION = 1
LOCK_TIMEOUT_S = 30.0


@dataclass(slots=True)
class ReplicaRecord:
    """One replica as recorded in the state file (its watcher is ``{namespace}_{component}_{index}``)."""

    component: str
    index: int
    gpus: list[int] = field(default_factory=list)
    port: int | None = None
    pid: int | None = None
    pid_create_time: float | None = None
    started_at: float | None = None
    restarts: int = 0  # crash restarts over the replica's life
    crash_streak: int = 0  # crashes since it last ran longer than the stable period
    exit_code: int | None = None
    failed_reason: str | None = None  # set once the replica is marked failed
    stopping: bool = False  # being removed: its GPUs and port are freed once it exited

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplicaRecord:
        """Read the state-file form, ignoring unknown keys (newer writers); ValueError when a field has
        the wrong shape (a list where a number belongs, ...)."""
        if not isinstance(data, dict):
            raise ValueError(f"a replica record must be an object, got {type(data).__name__}")
        problems: list[str] = []
        known: dict[str, Any] = {}
        for name, (kind, optional) in _RECORD_FIELDS.items():
            if name not in data:
                if name in _RECORD_REQUIRED:
                    problems.append(f"{name}: required")
                continue
            value = data[name]
            if value is None and optional:
                known[name] = None
            elif (checked := _as_kind(value, kind)) is not None:
                known[name] = checked
            else:
                problems.append(f"{name}: expected {_KIND_WORDS[kind]}, got {value!r:.40}")
        if problems:
            raise ValueError(f"replica record: {'; '.join(problems)}")
        return cls(**known)


#: a record's fields: (kind, may be null); read by hand so reading a state file needs no validation library
_RECORD_FIELDS: dict[str, tuple[str, bool]] = {
    "component": ("str", False),
    "index": ("int", False),
    "gpus": ("ints", False),
    "port": ("int", True),
    "pid": ("int", True),
    "pid_create_time": ("float", True),
    "started_at": ("float", True),
    "restarts": ("int", False),
    "crash_streak": ("int", False),
    "exit_code": ("int", True),
    "failed_reason": ("str", True),
    "stopping": ("bool", False),
}
_RECORD_REQUIRED = frozenset(
    f.name for f in fields(ReplicaRecord) if f.default is MISSING and f.default_factory is MISSING
)
_KIND_WORDS = {
    "str": "a string",
    "int": "an integer",
    "ints": "a list of integers",
    "float": "a number",
    "bool": "true or false",
}


def _as_kind(value: Any, kind: str) -> Any:
    """``value`` as ``kind`` (an int where a number belongs reads as a float), else None."""
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if isinstance(value, bool):
        return None  # JSON true is not a number
    if kind == "str":
        return value if isinstance(value, str) else None
    if kind == "int":
        return value if isinstance(value, int) else None
    if kind == "float":
        return float(value) if isinstance(value, int | float) else None
    if isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return list(value)
    return None


@dataclass(slots=True)
class NamespaceState:
    """Everything the state file holds for one namespace."""

    namespace: str
    graph: dict[str, Any]
    working_dir: str | None = None
    circusd: CircusdHandle | None = None
    desired: dict[str, int] = field(default_factory=dict)
    replicas: dict[str, ReplicaRecord] = field(default_factory=dict)  # watcher name -> record
    updated_at: float = 0.0
    stopping: bool = False  # the graph is being stopped on purpose: nobody may start it again

    def to_json(self) -> dict[str, Any]:
        """The file's JSON document."""
        return {
            "version": FORMAT_VERSION,
            "namespace": self.namespace,
            "graph": self.graph,
            "working_dir": self.working_dir,
            "circusd": self.circusd.to_json() if self.circusd else None,
            "desired": self.desired,
            "replicas": {name: asdict(rec) for name, rec in sorted(self.replicas.items())},
            "updated_at": self.updated_at,
            "stopping": self.stopping,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NamespaceState:
        """Parse the file's JSON document (ValueError, KeyError or TypeError when it has the wrong shape)."""
        if not isinstance(data, dict):
            raise ValueError(f"the document must be an object, got {type(data).__name__}")
        for key in ("graph", "desired", "replicas", "circusd"):
            if data.get(key) is not None and not isinstance(data[key], dict):
                raise ValueError(f"{key!r} must be an object, got {type(data[key]).__name__}")
        return cls(
            namespace=str(data["namespace"]),
            graph=dict(data["graph"]),
            working_dir=data.get("working_dir"),
            circusd=CircusdHandle.from_json(data["circusd"]) if data.get("circusd") else None,
            desired={str(k): int(v) for k, v in (data.get("desired") or {}).items()},
            replicas={str(k): ReplicaRecord.from_json(v) for k, v in (data.get("replicas") or {}).items()},
            updated_at=float(data.get("updated_at") or 0.0),
            stopping=bool(data.get("stopping", False)),
        )


class StateStore:
    """Reads and writes namespace state files under one state directory, under the shared lock."""

    def __init__(self, namespace: str, state_dir: Path | str | None = None) -> None:
        self.namespace = namespace
        self.root = (Path(state_dir) if state_dir is not None else default_state_dir()).absolute() / "local"
        self.path = self.root / f"{namespace}.json"
        self.run_dir = self.root / namespace
        self.log_dir = self.run_dir / "logs"
        self._lock: FileLock | None = None  # made on first use: reading a state file takes no lock

    def ensure_dirs(self) -> None:
        """Create the state directory and its ``local`` folder, 0700 whatever the umask."""
        private_dir(self.root.parent)
        private_dir(self.root)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state directory's lock (blocking: call from a worker thread)."""
        self.ensure_dirs()
        from filelock import FileLock, Timeout

        if self._lock is None:
            self._lock = FileLock(str(self.root / "allocations.lock"), timeout=LOCK_TIMEOUT_S, mode=PRIVATE_FILE_MODE)
        try:
            with self._lock:
                yield
        except Timeout:
            raise ConnectorError(
                f"the state lock {self._lock.lock_file} is held by another process for over "
                f"{LOCK_TIMEOUT_S:.0f} s; is another planner-tui stuck?"
            ) from None

    def read(self) -> NamespaceState | None:
        """This namespace's state, or None when there is no state file."""
        return read_state_file(self.path)

    def write(self, state: NamespaceState) -> None:
        """Write atomically: a reader sees the old file or the new one, never half of one."""
        state.updated_at = time.time()
        self.ensure_dirs()
        fd, tmp = tempfile.mkstemp(prefix=f".{self.namespace}.", suffix=".tmp", dir=self.root)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state.to_json(), handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def remove(self) -> None:
        """Delete this namespace's state file (the graph was stopped)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def other_namespaces(self) -> list[NamespaceState]:
        """The state of every other namespace under this state directory (for GPU/port holdings)."""
        out = []
        for path in sorted(self.root.glob("*.json")):
            if path == self.path:
                continue
            state = read_state_file(path)
            if state is not None:
                out.append(state)
        return out


def read_state_file(path: Path) -> NamespaceState | None:
    """Parse one state file; None if absent. A corrupt file raises ConnectorError naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # a directory in its place, no permission, bad bytes
        raise ConnectorError(
            f"state file {path} is unreadable: {exc}; stop the graph's processes and delete the file"
        ) from None
    try:
        return NamespaceState.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        what = " ".join(str(exc).split())[:300]
        raise ConnectorError(
            f"state file {path} is unreadable: {what}; stop the graph's processes and delete the file"
        ) from None
