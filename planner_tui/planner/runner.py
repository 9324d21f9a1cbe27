"""The planner runner: an asyncio loop that decides every adjustment interval and applies the decision.

Each tick: take the collector's latest Snapshot, :func:`~planner_tui.planner.engine.plan`, apply the
changes through ``connector.set_component_replicas`` (auto mode only), write the decision to the
audit log, and only then tell listeners. A connector error marks that decision FAILED with the
error; the next tick decides again (and so retries). Nothing but :meth:`PlannerRunner.stop` ends
the loop, and stopping is bounded.

Every applied decision is in the audit log, or it is not applied: a decision that changes replica
counts is first written (fsynced) as an intent record; when that write fails for any reason (disk,
permissions, serialisation), nothing is applied, the changes are marked FAILED with the reason, and
the error listeners are told.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import replace

from planner_tui.connectors.base import PlannerConnector
from planner_tui.connectors.capabilities import DelegatesScaling
from planner_tui.model.decisions import ComponentDecision, Decision, Outcome, PlannerMode
from planner_tui.model.scaling import PredictedLoad, TargetReplica
from planner_tui.model.snapshot import Snapshot
from planner_tui.planner.audit import INTENT, AuditLog
from planner_tui.planner.engine import EngineConfig, plan
from planner_tui.planner.state import Pin, PlannerState

log = logging.getLogger(__name__)

DecisionListener = Callable[[Decision], None]
ErrorListener = Callable[[str], None]


class PlannerRunner:
    """Runs the engine every ``interval_s`` (default: the graph's ``adjustment_interval_s``).

    ``snapshot_source`` returns the newest Snapshot (the collector's ``latest``), or None before the
    first one. ``clock`` gives Unix time (tests and replays pass their own). ``apply_timeout_s``
    bounds one connector call; a call that takes longer is a failed decision.
    """

    def __init__(
        self,
        connector: PlannerConnector,
        config: EngineConfig,
        snapshot_source: Callable[[], Snapshot | None],
        *,
        audit: AuditLog | None = None,
        mode: PlannerMode | None = None,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.time,
        apply_timeout_s: float | None = None,
        keep_decisions: int = 200,
    ) -> None:
        self.connector = connector
        self.config = config
        self._source = snapshot_source
        self.audit = audit
        self._mode = mode or config.graph.planner.mode
        self.interval_s = float(interval_s if interval_s is not None else config.graph.planner.adjustment_interval_s)
        self._clock = clock
        self.apply_timeout_s = apply_timeout_s if apply_timeout_s is not None else max(30.0, 3 * self.interval_s)
        self.decisions: deque[Decision] = deque(maxlen=keep_decisions)
        self.next_tick_at: float | None = None
        self.ticks = 0
        self._state = PlannerState()
        self._listeners: list[DecisionListener] = []
        self._error_listeners: list[ErrorListener] = []
        self._task: asyncio.Task[None] | None = None
        self._tick_lock = asyncio.Lock()

    # -- state, mode and pins -------------------------------------------------------------------
    @property
    def state(self) -> PlannerState:
        """What the planner carries between ticks (memory and pins)."""
        return self._state

    @property
    def mode(self) -> PlannerMode:
        """auto (apply), advisory (decide only) or paused."""
        return self._mode

    def set_mode(self, mode: PlannerMode) -> None:
        """Change the mode from the next tick on."""
        if mode is not self._mode:
            log.info("planner mode %s -> %s", self._mode.value, mode.value)
        self._mode = PlannerMode(mode)

    @property
    def pins(self) -> Mapping[str, Pin]:
        """The active pins."""
        now = self._clock()
        return {name: pin for name, pin in self._state.pins.items() if pin.active(now)}

    def pin(self, pin: Pin) -> None:
        """Hold ``pin.component`` at ``pin.replicas`` (until ``pin.until``)."""
        self._state = self._state.with_pin(pin)

    def unpin(self, component: str) -> bool:
        """Return ``component`` to the planner; False when it was not pinned."""
        pinned = component in self._state.pins
        self._state = self._state.without_pin(component)
        return pinned

    # -- listeners --------------------------------------------------------------------------------
    def add_listener(self, listener: DecisionListener) -> None:
        """Call ``listener(decision)`` after each decision is recorded."""
        self._listeners.append(listener)

    def add_error_listener(self, listener: ErrorListener) -> None:
        """Call ``listener(message)`` when a tick meets a problem (audit log unwritable, ...)."""
        self._error_listeners.append(listener)

    def _error(self, message: str) -> None:
        log.error("%s", message)
        for listener in list(self._error_listeners):
            try:
                listener(message)
            except Exception:  # a listener's bug must not stop the planner
                log.exception("planner error listener failed")

    # -- the loop ---------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the loop runs."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Start ticking on the running event loop (the first tick one interval from now)."""
        if self.running:
            return
        self._task = asyncio.get_running_loop().create_task(self._run(), name="planner-tui-runner")

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop the loop; an apply in progress gets ``timeout`` seconds before it is cancelled."""
        task, self._task = self._task, None
        self.next_tick_at = None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            log.warning("the planner loop did not stop within %.1f s", timeout)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time() + self.interval_s
        while True:
            delay = max(0.0, next_at - loop.time())
            self.next_tick_at = self._clock() + delay
            await asyncio.sleep(delay)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one bad tick end the planner
                log.exception("planner tick failed")
                self._error(f"planner tick failed: {type(exc).__name__}: {exc}")
            now = loop.time()
            # Keep the cadence; after a tick that overran, count from now.
            next_at = now + self.interval_s if next_at + self.interval_s <= now else next_at + self.interval_s

    async def tick(self) -> Decision | None:
        """Decide once now, apply, record and notify; None when there is no Snapshot yet."""
        async with self._tick_lock:
            snapshot = self._source()
            if snapshot is None:
                log.info("planner tick skipped: no snapshot collected yet")
                return None
            now = self._clock()
            decision, self._state = plan(snapshot, self._state, self.config, now, self._mode)
            decision = await self._apply_audited(decision)
            self.ticks += 1
            self.decisions.append(decision)
            for listener in list(self._listeners):
                try:
                    listener(decision)
                except Exception:
                    log.exception("planner decision listener failed")
            return decision

    async def _apply_audited(self, decision: Decision) -> Decision:
        """Write the intent, apply, write the outcome; nothing is applied when the intent is not written."""
        changes = self._to_apply(decision)
        if changes and not self.connector.reachable:  # never act on a graph the planner cannot see
            problems = self.connector.problems
            unseen = "backend unreachable" + (f": {problems[0]}" if problems else "")
            refused = self._refuse(decision, changes, unseen)
            await self._record(refused)
            return refused
        if changes and self.audit is not None:
            problem = await self._record(decision, INTENT)
            if problem is not None:
                refused = self._refuse(decision, changes, problem)
                self._error(f"{problem}; not applied: {', '.join(_change(c) for c in changes)}")
                await self._record(refused)  # the disk may take this one; it is reported once either way
                return refused
        decision = await self._apply(decision)
        problem = await self._record(decision)
        if problem is not None:
            self._error(problem)
        return decision

    async def _record(self, decision: Decision, phase: str | None = None) -> str | None:
        """Write ``decision`` to the audit log; None when written (or there is no log), else the error."""
        if self.audit is None:
            return None
        try:
            await asyncio.to_thread(self.audit.append, decision, phase)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure to write, serialisation included: the caller decides
            return f"cannot write the audit log {self.audit.path}: {type(exc).__name__}: {exc}"
        return None

    @staticmethod
    def _refuse(decision: Decision, changes: list[ComponentDecision], problem: str) -> Decision:
        """``decision`` with ``changes`` marked FAILED and not applied because of ``problem`` (the audit
        log was not written, the backend cannot be reached)."""
        names = {c.component for c in changes}
        error = f"not applied: {problem}"
        return replace(
            decision,
            components=tuple(
                replace(c, outcome=Outcome.FAILED, error=error) if c.component in names else c
                for c in decision.components
            ),
        )

    # -- applying ----------------------------------------------------------------------------------
    def _to_apply(self, decision: Decision) -> list[ComponentDecision]:
        if decision.mode is not PlannerMode.AUTO:
            return []
        return [
            c
            for c in decision.components
            if c.outcome is Outcome.PENDING or (c.outcome is Outcome.PINNED and c.target != c.current)
        ]

    async def _apply(self, decision: Decision) -> Decision:
        changes = self._to_apply(decision)
        if not changes:
            return decision
        results: dict[str, str | None] = {}
        answers: dict[str, str] = {}
        forecast = predicted_load(decision, self.interval_s)
        error = await self._set(changes, forecast, answers)
        if error is None:
            results = {c.component: None for c in changes}
        elif len(changes) == 1:
            results = {changes[0].component: error}
        else:
            # Tell which change failed: scale-downs first, so their GPUs are free for the scale-ups.
            for change in sorted(changes, key=lambda c: c.target - c.current):
                results[change.component] = await self._set([change], forecast, answers)
        updated = []
        for c in decision.components:
            if c.component not in results:
                updated.append(c)
                continue
            failure = results[c.component]
            answered = replace(c, answer=answers[c.component]) if c.component in answers else c
            if failure is None:
                updated.append(answered if c.outcome is Outcome.PINNED else replace(answered, outcome=Outcome.APPLIED))
            else:
                updated.append(replace(answered, outcome=Outcome.FAILED, error=failure))
        return replace(decision, components=tuple(updated))

    async def _set(
        self, changes: list[ComponentDecision], forecast: PredictedLoad | None, answers: dict[str, str]
    ) -> str | None:
        """Apply ``changes``; the error text, or None when the connector accepted them.

        A connector that delegates scaling to a service gets the planner's forecast with the targets,
        and its service's answer goes into ``answers`` (by component) for the decision log.
        """
        targets = [TargetReplica(component_name=c.component, desired_replicas=c.target) for c in changes]
        try:
            if isinstance(self.connector, DelegatesScaling):
                answer = await asyncio.wait_for(
                    self.connector.delegate_replicas(targets, forecast), timeout=self.apply_timeout_s
                )
                answers.update({c.component: answer for c in changes})
            else:
                await asyncio.wait_for(self.connector.set_component_replicas(targets), timeout=self.apply_timeout_s)
        except TimeoutError:
            return f"the connector did not answer within {self.apply_timeout_s:g} s"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # ConnectorError and anything unexpected: a failed decision, not a dead loop
            log.warning("applying %s failed: %s", ", ".join(t.component_name or "" for t in targets), exc)
            return str(exc) or type(exc).__name__
        return None


def predicted_load(decision: Decision, interval_s: float) -> PredictedLoad | None:
    """The decision's forecast as a Global Planner's ``predicted_load``, None when no policy predicted.

    ``num_requests`` is the requests predicted over one adjustment interval (the predicted request
    rate times the interval, as upstream's planner counts them); ``isl`` and ``osl`` are the predicted
    mean input and output lengths in tokens.
    """
    for c in decision.components:
        predicted = dict(c.predicted)
        if "request_rate" in predicted:
            return PredictedLoad(
                num_requests=predicted["request_rate"] * interval_s,
                isl=predicted.get("isl"),
                osl=predicted.get("osl"),
            )
    return None


def _change(decision: ComponentDecision) -> str:
    return f"{decision.component} {decision.current}->{decision.target}"
