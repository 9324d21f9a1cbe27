"""Writing a sweep: the profile file the throughput policy reads, and the raw sweep as JSON.

Both are written atomically (a 0600 temporary file in the same directory, fsynced, renamed over the
target), so a crash or Ctrl-C never leaves a half-written profile, and the written profile is read back
through :func:`planner_tui.planner.profile.parse_profile` before it replaces anything: what is on disk
is what the planner accepts.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import tomllib
from pathlib import Path
from typing import Any

from planner_tui.config.paths import write_private_text
from planner_tui.planner.profile import META_TABLE, parse_profile
from planner_tui.profiling.capacity import profile_tables
from planner_tui.profiling.records import SweepResult


class ProfileWriteError(Exception):
    """The profile or the sweep could not be written; the message names the path and the fix."""


def sweep_path_for(profile_path: Path) -> Path:
    """The raw sweep next to a profile: ``capacity.toml`` -> ``capacity.sweep.json``."""
    return profile_path.with_name(profile_path.stem + ".sweep.json")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value!r}")
        return repr(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string accepts JSON's escapes


def _stamp(when: float) -> str:
    return _dt.datetime.fromtimestamp(when, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def profile_text(result: SweepResult, sweep_file: str | None) -> str:
    """The profile file (TOML): ``[_meta]``, then one table per measured component, bases as comments."""
    meta: dict[str, Any] = {
        "partial": result.partial,
        "ttft_target_ms": float(result.targets.ttft_ms),
        "itl_target_ms": float(result.targets.itl_ms),
        "measured_at": _stamp(result.finished_at or result.started_at),
        "namespace": result.namespace,
        "graph": result.graph,
        "quick": result.quick,
    }
    if result.partial:
        meta["partial_reason"] = result.partial_reason or "the sweep did not finish"
    if sweep_file:
        meta["sweep"] = sweep_file
    state = "PARTIAL: the sweep was cut short; " if result.partial else ""
    lines = [
        f"# Capacity profile measured by `planner-tui profile` on {result.namespace!r}: one replica per component,",
        f"# at TTFT {result.targets.ttft_ms:g} ms (prefill) and ITL {result.targets.itl_ms:g} ms (decode).",
        f"# {state}tokens/s one replica serves within the target, by length (the throughput policy reads it).",
        f"[{META_TABLE}]",
        *(f"{key} = {_toml_value(value)}" for key, value in meta.items()),
    ]
    for component, table in profile_tables(result).items():
        lines.append("")
        for capacity in result.capacity[component]:
            lines.append(f"# {result.components[component].axis} {capacity.length:g}: {capacity.basis}")
        lines.append(f"[{component}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def write_private_atomically(path: Path, text: str) -> None:
    """``text`` to ``path``: a 0600 temporary file next to it, fsynced, then renamed over it."""
    try:
        write_private_text(path, text)
    except OSError as exc:
        raise ProfileWriteError(
            f"cannot write {path}: {exc.strerror or exc}; choose a writable file with --out"
        ) from None


def write_sweep(result: SweepResult, path: Path) -> None:
    """The raw sweep (every point, the capacity and the warnings) as JSON."""
    write_private_atomically(path, json.dumps(result.to_json(), indent=1, allow_nan=False) + "\n")


def write_profile(result: SweepResult, path: Path) -> Path | None:
    """Write the profile and its raw sweep next to it; returns the profile's path, None without any capacity.

    The raw sweep is always written (it holds what was measured even when no length met its target).
    """
    sweep = sweep_path_for(path)
    write_sweep(result, sweep)
    if not result.capacity:
        return None
    text = profile_text(result, sweep.name)
    parse_profile(tomllib.loads(text), str(path))  # what is written is what the planner accepts
    write_private_atomically(path, text)
    return path


def read_sweep(profile_path: str | Path) -> SweepResult:
    """The raw sweep of a profile: the file its ``[_meta] sweep`` names (next to it), else ``NAME.sweep.json``.

    Raises OSError or ValueError naming the file.
    """
    path = Path(profile_path).expanduser()
    sweep = sweep_path_for(path)
    try:
        meta = tomllib.loads(path.read_text(encoding="utf-8")).get(META_TABLE, {})
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
    if isinstance(meta, dict) and isinstance(meta.get("sweep"), str):
        sweep = path.with_name(Path(meta["sweep"]).name)
    try:
        return SweepResult.from_json(json.loads(sweep.read_text(encoding="utf-8")))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{sweep}: invalid JSON: {exc}") from None
