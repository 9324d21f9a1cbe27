"""circusd's entry point for the local connector: ``python -m planner_tui.connectors.local.circusd_main INI``.

Runs circus's own ``circusd`` with two changes that keep its log free of a spurious
``ConflictError: arbiter is already running watcher_start command`` traceback:

- the replicas' log stream class is imported here, before the arbiter's loop runs: imported on the
  first ``add`` instead, it blocked the loop for a few hundred milliseconds, so circus's periodic
  watcher check (every ``check_delay``) was overdue and ran in the middle of that watcher's start;
- circus refuses that periodic check while a command runs (its ``synchronized`` guard raises, and
  the loop logs the traceback); here the check is skipped instead, and runs at the next tick, which
  is all circus does after the error anyway.
"""

from __future__ import annotations

from typing import Any

import planner_tui.connectors.local.log_stream  # noqa: F401 - imported before the loop runs (see above)


def _patch_periodic_check() -> None:
    from circus.arbiter import Arbiter

    check = Arbiter.manage_watchers

    def manage_watchers(self: Any) -> Any:
        if self._exclusive_running_command is not None or self._restarting:
            return None  # a command is running: check at the next tick
        return check(self)

    Arbiter.manage_watchers = manage_watchers


def main() -> None:
    """Run circusd with the configuration file named on the command line."""
    from circus.circusd import main as circusd_main

    _patch_periodic_check()
    circusd_main()


if __name__ == "__main__":
    main()
