"""The load-driver protocol the sweep uses, implemented by :mod:`.sim_load` and :mod:`.openai_load`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from planner_tui.profiling.records import LoadKind
from planner_tui.profiling.window import RequestRecord, Sample


class LoadDriver(Protocol):
    """Puts a load level on a graph's frontend and reports cumulative counts on its own clock."""

    #: what a level is: clients (closed loop) or requests per second (open loop)
    kind: LoadKind

    @property
    def records(self) -> Sequence[RequestRecord]:
        """The client's finished requests so far (empty when the client cannot see single requests)."""
        ...

    async def start(self) -> None:
        """Connect (and remember whatever :meth:`close` restores)."""
        ...

    async def apply(self, level: float, isl: int, osl: int) -> None:
        """Run ``level`` with requests of ``isl`` prompt tokens and ``osl`` output tokens from now on."""
        ...

    async def sample(self) -> Sample:
        """The cumulative counts now, with the servers' metrics."""
        ...

    def real_seconds(self, clock_seconds: float) -> float:
        """Real seconds that make ``clock_seconds`` on the driver's clock (a sped-up sim runs faster)."""
        ...

    async def idle(self, timeout_s: float) -> bool:
        """Stop sending and wait until nothing is in flight; False when something still is after ``timeout_s``."""
        ...

    async def close(self) -> None:
        """Stop the load (bounded) and restore what :meth:`start` found."""
        ...


if TYPE_CHECKING:
    from planner_tui.profiling.openai_load import OpenAILoad
    from planner_tui.profiling.sim_load import SimLoad

    def _both_are_drivers(openai: OpenAILoad, sim: SimLoad) -> tuple[LoadDriver, LoadDriver]:
        return openai, sim  # mypy checks that both satisfy the protocol
