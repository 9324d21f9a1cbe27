"""A Snapshot as plain JSON data (for ``planner-tui status --json``, scripts and recordings).

Enums become their values, mappings objects, tuples lists, and a few derived figures a reader
wants are added (replica names, ready counts, whether a GPU is simulated). NaN and infinities,
which JSON cannot carry, become null.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from enum import Enum
from typing import Any

from planner_tui.model.components import ComponentState
from planner_tui.model.gpus import GpuSample
from planner_tui.model.replicas import ReplicaState
from planner_tui.model.snapshot import Snapshot

SCHEMA_VERSION = 1


def to_data(value: Any) -> Any:
    """``value`` (records, enums, mappings, sequences, numbers) as JSON-compatible data."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, str | int | bool):
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
        data.update(_derived(value))
        return data
    if isinstance(value, Mapping):
        return {str(to_data(k)): to_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_data(v) for v in value]
    return str(value)


def _derived(record: object) -> dict[str, Any]:
    if isinstance(record, ReplicaState):
        return {"name": record.name}
    if isinstance(record, ComponentState):
        return {
            "current_replicas": record.current_replicas,
            "ready_replicas": record.ready_replicas,
            "starting_replicas": record.starting_replicas,
        }
    if isinstance(record, GpuSample):
        return {"simulated": record.simulated, "memory_fraction": to_data(record.memory_fraction)}
    return {}


def snapshot_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The Snapshot as a JSON-compatible dict, with ``schema_version`` first."""
    data = to_data(snapshot)
    return {"schema_version": SCHEMA_VERSION, **data}


def snapshot_to_json(snapshot: Snapshot, indent: int | None = 2) -> str:
    """The Snapshot as JSON text."""
    return json.dumps(snapshot_to_dict(snapshot), indent=indent, allow_nan=False)
