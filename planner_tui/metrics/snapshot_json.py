"""A Snapshot as plain JSON data (for ``planner-tui status --json``, scripts and recordings).

Enums become their values, mappings objects, tuples lists, and a few derived figures a reader
wants are added (replica names, ready counts, whether a GPU is simulated). NaN and infinities,
which JSON cannot carry, become null.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import json
import math
import types
import typing
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


class SnapshotFormatError(ValueError):
    """Data that is not a Snapshot of this schema (names the field that is wrong)."""


def _from_data(kind: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(kind)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _from_data(option, value, where)
            except SnapshotFormatError as exc:
                errors.append(str(exc))
        raise SnapshotFormatError(errors[0] if errors else f"{where}: unexpected {value!r}")
    if isinstance(kind, type) and issubclass(kind, Enum):
        try:
            return kind(value)
        except ValueError:
            raise SnapshotFormatError(f"{where}: {value!r} is not a {kind.__name__}") from None
    if kind is float:
        if value is None:
            return math.nan  # to_data writes NaN and infinities as null
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SnapshotFormatError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if kind in (int, str, bool):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise SnapshotFormatError(f"{where}: expected {kind.__name__}, got {value!r}")
        return value
    if dataclasses.is_dataclass(kind) and isinstance(kind, type):
        if not isinstance(value, dict):
            raise SnapshotFormatError(f"{where}: expected an object, got {type(value).__name__}")
        hints = _hints(kind)
        fields = {f.name for f in dataclasses.fields(kind) if f.init}
        args = {k: _from_data(hints[k], v, f"{where}.{k}") for k, v in value.items() if k in fields}
        try:
            return kind(**args)
        except TypeError as exc:
            raise SnapshotFormatError(f"{where}: {exc}") from None
    if origin in (Mapping, dict, collections.abc.Mapping):
        key_kind, value_kind = typing.get_args(kind)
        if not isinstance(value, dict):
            raise SnapshotFormatError(f"{where}: expected an object, got {type(value).__name__}")
        return {_from_data(key_kind, k, where): _from_data(value_kind, v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        if not isinstance(value, list):
            raise SnapshotFormatError(f"{where}: expected a list, got {type(value).__name__}")
        items = typing.get_args(kind)
        if len(items) == 2 and items[1] is Ellipsis:
            return tuple(_from_data(items[0], v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(items) != len(value):
            raise SnapshotFormatError(f"{where}: expected {len(items)} items, got {len(value)}")
        return tuple(_from_data(a, v, f"{where}[{i}]") for i, (a, v) in enumerate(zip(items, value, strict=True)))
    raise SnapshotFormatError(f"{where}: cannot read a {kind!r}")


@functools.cache
def _hints(kind: type) -> dict[str, Any]:
    return typing.get_type_hints(kind)


def snapshot_from_dict(data: Any) -> Snapshot:
    """The Snapshot that :func:`snapshot_to_dict` made (derived figures are recomputed, not read).

    Raises :class:`SnapshotFormatError` naming the first field that does not fit, or a schema newer
    than this reader.
    """
    if not isinstance(data, dict):
        raise SnapshotFormatError(f"snapshot: expected an object, got {type(data).__name__}")
    version = data.get("schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        raise SnapshotFormatError(f"snapshot: schema_version {version!r}, this reader knows {SCHEMA_VERSION}")
    result: Snapshot = _from_data(Snapshot, data, "snapshot")
    return result
