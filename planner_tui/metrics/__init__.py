"""Metrics: GPU (NVML, DCGM-named metrics), host and replica use (psutil), Prometheus scraping and
queries, signal presets, bounded history and the :class:`~planner_tui.metrics.collector.Collector`.

Submodules are imported where used (``from planner_tui.metrics.nvml import ...``) so that importing
one does not load the others' dependencies.
"""
