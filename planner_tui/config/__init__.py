"""The graph file (TOML) and planner settings, validated with errors that name the file, key and fix.

The names are loaded when first used: the validating models (pydantic) stay out of a process until it
reads a graph file, so the dashboard draws its first frame without them (``config.outline``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from planner_tui.config.choices import Policy, Predictor
    from planner_tui.config.errors import ConfigError, Problem
    from planner_tui.config.graph import ComponentConfig, GraphConfig
    from planner_tui.config.loader import graph_json_schema, load_graph, parse_graph, validate_graph
    from planner_tui.config.paths import config_dir, demo_graph_path, state_dir
    from planner_tui.config.planner_settings import MetricsSettings, PlannerSettings, ResourcesSettings
    from planner_tui.config.templates import PLACEHOLDERS, ReplicaContext
    from planner_tui.model.components import Role  # the graph file's roles (defined with the records)

#: name -> the module that defines it
_WHERE = {
    "PLACEHOLDERS": "planner_tui.config.templates",
    "ComponentConfig": "planner_tui.config.graph",
    "ConfigError": "planner_tui.config.errors",
    "GraphConfig": "planner_tui.config.graph",
    "MetricsSettings": "planner_tui.config.planner_settings",
    "PlannerSettings": "planner_tui.config.planner_settings",
    "Policy": "planner_tui.config.choices",
    "Predictor": "planner_tui.config.choices",
    "Problem": "planner_tui.config.errors",
    "ReplicaContext": "planner_tui.config.templates",
    "ResourcesSettings": "planner_tui.config.planner_settings",
    "Role": "planner_tui.model.components",
    "config_dir": "planner_tui.config.paths",
    "demo_graph_path": "planner_tui.config.paths",
    "graph_json_schema": "planner_tui.config.loader",
    "load_graph": "planner_tui.config.loader",
    "parse_graph": "planner_tui.config.loader",
    "state_dir": "planner_tui.config.paths",
    "validate_graph": "planner_tui.config.loader",
}

__all__ = [
    "PLACEHOLDERS",
    "ComponentConfig",
    "ConfigError",
    "GraphConfig",
    "MetricsSettings",
    "PlannerSettings",
    "Policy",
    "Predictor",
    "Problem",
    "ReplicaContext",
    "ResourcesSettings",
    "Role",
    "config_dir",
    "demo_graph_path",
    "graph_json_schema",
    "load_graph",
    "parse_graph",
    "state_dir",
    "validate_graph",
]


def __getattr__(name: str) -> Any:
    """Load ``name`` from its module on first use (PEP 562)."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})
