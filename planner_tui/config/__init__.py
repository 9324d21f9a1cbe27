"""The graph file (TOML) and planner settings, validated with errors that name the file, key and fix."""

from planner_tui.config.errors import ConfigError, Problem
from planner_tui.config.graph import ComponentConfig, GraphConfig
from planner_tui.config.loader import graph_json_schema, load_graph, parse_graph, validate_graph
from planner_tui.config.paths import config_dir, demo_graph_path, state_dir
from planner_tui.config.planner_settings import (
    MetricsSettings,
    PlannerSettings,
    Policy,
    Predictor,
    ResourcesSettings,
)
from planner_tui.config.templates import PLACEHOLDERS, ReplicaContext
from planner_tui.model.components import Role  # the graph file's roles (defined with the records)

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
