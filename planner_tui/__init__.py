"""planner-tui: the autoscaling planner and terminal dashboard for LLM serving graphs.

The core (``model``, ``config``, ``connectors``, ``metrics``, ``planner``, ``runtime``) is usable
headless; only :mod:`planner_tui.tui` imports Textual.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
