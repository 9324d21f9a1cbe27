"""Running a sim process's main coroutine with signal handling and a bounded shutdown."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 1.0


class Stoppable(Protocol):
    """A sim process: ``run()`` until ``stop()``."""

    def stop(self) -> None:
        """Begin stopping (SIGTERM and SIGINT call this)."""

    def run(self) -> Coroutine[Any, Any, None]:
        """Serve until stopped, then clean up."""


def run_process(make: Callable[[], Stoppable]) -> int:
    """Build the process object on a new event loop, run it until SIGTERM/SIGINT, then exit promptly.

    Tasks still pending after ``run()`` returns get :data:`SHUTDOWN_GRACE_S` to finish once cancelled;
    the loop is closed even if one does not (``asyncio.run`` would wait for it forever). Returns the exit
    code: 0, or 1 when the process could not listen on its port or write its token (logged with the fix).
    """
    from planner_tui.sim.auth import AuthError
    from planner_tui.sim.http import ListenError

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        process = make()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, process.stop)
        try:
            loop.run_until_complete(process.run())
        except (ListenError, AuthError) as exc:
            log.error("%s", exc)
            return 1
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.wait(pending, timeout=SHUTDOWN_GRACE_S))
            stuck = [task for task in pending if not task.done()]
            if stuck:
                log.debug("closing with %d task(s) that did not finish: %s", len(stuck), stuck)
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    return 0
