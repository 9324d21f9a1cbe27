"""Garbage-collector settings for planner-tui's long-running processes (dashboard, headless planner).

Every collector tick makes thousands of short-lived records (samples, signal values, snapshots).
With CPython's default young-generation threshold (700 allocations) the young generation is
collected several times per tick while the records of the tick in progress are still alive: they
are promoted, and full collections later walk them. A young generation of 10,000 lets them die
first, and the objects made at start-up (modules, the Textual app) are frozen out of every later
collection. Cycles are still collected, only less often. ``benchmarks/bench_collector.py`` measures
both settings (on an idle 16-core host: ~10.8 ms -> ~10.3 ms of CPU per 64-replica tick).
"""

from __future__ import annotations

import gc

#: allocations between young-generation collections for a long-running process (CPython: 700)
YOUNG_THRESHOLD = 10_000


def tune_for_long_run() -> None:
    """Apply the settings above to this process: call once start-up is done, before the long run."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, YOUNG_THRESHOLD), middle, old)
