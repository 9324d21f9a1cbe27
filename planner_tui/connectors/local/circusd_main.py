"""circusd's entry point for the local connector: ``python -m planner_tui.connectors.local.circusd_main INI``.

Runs circus's own ``circusd`` with two changes that keep its log free of a spurious
``ConflictError: arbiter is already running watcher_start command`` traceback:

- the replicas' log stream class is imported here, before the arbiter's loop runs: imported on the
  first ``add`` instead, it blocked the loop for a few hundred milliseconds, so circus's periodic
  watcher check (every ``check_delay``) was overdue and ran in the middle of that watcher's start;
- circus refuses that periodic check while a command runs (its ``synchronized`` guard raises, and
  the loop logs the traceback); here the check is skipped instead, and runs at the next tick, which
  is all circus does after the error anyway.

And one that makes it cheaper when idle and quicker when a replica exits: circus only notices an exit
in that periodic check (it reaps children there), so the check used to run 4 times a second to
notice crashes soon. Here a child's exit (SIGCHLD) runs the check at once (retried every 0.1 s while
a command runs), and the periodic check is only a slow backstop (``check_delay``, see
:data:`planner_tui.connectors.local.circusd.CHECK_DELAY_S`).
"""

from __future__ import annotations

import signal
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


#: seconds between tries of a check asked for by a child's exit while a command runs
CHECK_RETRY_S = 0.1


def _check_on_child_exit() -> None:
    """Run the watchers' check as soon as a child exits (circus reaps and reports exits there)."""
    from circus.sighandler import SysHandler

    register = SysHandler._register

    def _register(self: Any) -> None:
        register(self)
        controller = self.controller

        def check_now() -> None:
            arbiter = controller.arbiter
            if arbiter._stopping:
                return
            if arbiter._exclusive_running_command is not None or arbiter._restarting:
                controller.loop.call_later(CHECK_RETRY_S, check_now)  # ends with the command
                return
            arbiter.manage_watchers()

        def on_child_exit(signum: int, frame: Any) -> None:
            controller.loop.add_callback_from_signal(check_now)

        signal.signal(signal.SIGCHLD, on_child_exit)

    SysHandler._register = _register


def main() -> None:
    """Run circusd with the configuration file named on the command line."""
    from circus.circusd import main as circusd_main

    _patch_periodic_check()
    _check_on_child_exit()
    circusd_main()


if __name__ == "__main__":
    main()
