"""The GC settings of long-running commands: a larger young generation, start-up objects frozen."""

from __future__ import annotations

import gc

from planner_tui.runtime.gc_tuning import YOUNG_THRESHOLD, tune_for_long_run


def test_long_runs_collect_the_young_generation_less_often_and_skip_start_up_objects() -> None:
    thresholds = gc.get_threshold()
    try:
        gc.unfreeze()
        tune_for_long_run()
        young, middle, old = gc.get_threshold()
        assert young == max(thresholds[0], YOUNG_THRESHOLD) and (middle, old) == thresholds[1:]
        assert gc.get_freeze_count() > 1000  # the modules and objects loaded so far
        cycle: list[object] = []
        cycle.append(cycle)
        del cycle
        assert gc.collect() >= 1  # cycles are still collected
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)
