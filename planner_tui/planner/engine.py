"""The pure planner engine: ``decide(snapshot, state, config, now) -> Decision``.

No I/O and no clock reads: the same inputs always give the same Decision, so every decision can be
unit-tested and replayed. :func:`plan` also returns the next :class:`PlannerState`; the runner calls
it once per tick and keeps the state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from planner_tui.config.graph import ComponentConfig, GraphConfig
from planner_tui.config.planner_settings import PlannerSettings, Policy
from planner_tui.config.rules import budget_limit, desired_counts, gpus_needed, resolve_policy
from planner_tui.model.components import ComponentState, Role
from planner_tui.model.decisions import ComponentDecision, Decision, LimitApplied, Outcome, PlannerMode, Verdict
from planner_tui.model.signals import SignalValue
from planner_tui.model.snapshot import Snapshot
from planner_tui.planner.inputs import ComponentSignals, SnapshotIndex
from planner_tui.planner.limits import BudgetItem, apply_gpu_budget, clamp_bounds, stabilise
from planner_tui.planner.policies.base import PolicyContext, Recommendation, hold
from planner_tui.planner.policies.load import recommend_load
from planner_tui.planner.policies.target import recommend_target
from planner_tui.planner.policies.throughput import recommend_throughput
from planner_tui.planner.profile import CapacityProfile
from planner_tui.planner.state import ComponentMemory, PlannerState

PolicyFunction = Callable[[PolicyContext], Recommendation]

POLICIES: Mapping[Policy, PolicyFunction] = MappingProxyType(
    {Policy.LOAD: recommend_load, Policy.THROUGHPUT: recommend_throughput, Policy.TARGET: recommend_target}
)

_EMPTY_MEMORY = ComponentMemory()


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What the engine needs besides the snapshot: the graph and the loaded capacity profile."""

    graph: GraphConfig
    profile: CapacityProfile | None = None
    policies: Mapping[str, Policy] = field(default_factory=dict)

    @classmethod
    def of(cls, graph: GraphConfig, profile: CapacityProfile | None = None) -> EngineConfig:
        """Resolve every component's policy once (:func:`~planner_tui.config.rules.resolve_policy`)."""
        policies = {n: resolve_policy(c, graph.planner.policy) for n, c in graph.components.items()}
        return cls(graph=graph, profile=profile, policies=MappingProxyType(policies))

    @property
    def autoscaled(self) -> list[str]:
        """Components with a policy, in file order: the ones :func:`~planner_tui.config.rules.is_autoscaled` names."""
        return [n for n, p in self.policies.items() if p is not Policy.NONE]


def _as_engine_config(config: EngineConfig | GraphConfig) -> EngineConfig:
    return config if isinstance(config, EngineConfig) else EngineConfig.of(config)


def decide(
    snapshot: Snapshot,
    state: PlannerState,
    config: EngineConfig | GraphConfig,
    now: float,
    mode: PlannerMode | None = None,
) -> Decision:
    """The planner's Decision for ``snapshot`` at ``now`` (one ComponentDecision per autoscaled component)."""
    return plan(snapshot, state, config, now, mode)[0]


@dataclass(slots=True, kw_only=True)
class _Work:
    """One component's decision while the engine builds it (private to one tick: ``value`` and
    ``limits`` change as each limit is applied, in order; nothing outside the engine sees it)."""

    name: str
    policy: Policy
    current: int
    rec: Recommendation
    value: int
    limits: list[LimitApplied]
    memory: ComponentMemory
    pinned: bool = False
    pin_text: str = ""


def plan(
    snapshot: Snapshot,
    state: PlannerState,
    config: EngineConfig | GraphConfig,
    now: float,
    mode: PlannerMode | None = None,
) -> tuple[Decision, PlannerState]:
    """Decide, and return the state to carry to the next tick (memory updated, expired pins dropped)."""
    cfg = _as_engine_config(config)
    graph, settings = cfg.graph, cfg.graph.planner
    mode = mode or settings.mode
    state = state.expire_pins(now)
    index = SnapshotIndex.build(snapshot)
    max_age = max(3 * graph.metrics.interval_s, 2 * settings.adjustment_interval_s)
    frontends = tuple(
        ComponentSignals(n, snapshot.components.get(n), index, now, max_age)
        for n, c in graph.components.items()
        if c.role is Role.FRONTEND
    )
    frontend_names = frozenset(f.name for f in frontends)
    memories = dict(state.components)
    policies = cfg.policies
    components = graph.components
    snapshot_components = snapshot.components
    remembered = state.components
    pins = state.pins
    window = _HistoryWindow(settings)
    work: list[_Work] = []
    for name in cfg.autoscaled:
        comp_cfg = components[name]
        comp_state = snapshot_components.get(name)
        memory = remembered.get(name) or _EMPTY_MEMORY
        policy = policies[name]
        others = tuple(f for f in frontends if f.name != name) if name in frontend_names else frontends
        reported = comp_state is not None
        if comp_state is None:  # not in the snapshot: hold at the count last seen
            held = memory.last_count if memory.last_count is not None else comp_cfg.effective_initial_replicas
            comp_state = ComponentState(comp_cfg.to_spec(name), held)
        current = comp_state.desired_replicas
        signals = ComponentSignals(name, comp_state, index, now, max_age)
        # This tick's replica-count facts for the memory; the count is moving when it changed since the
        # last tick, or replicas are stopping.
        before = memory.last_count
        changed = reported and before is not None and before != current
        last_change_at = now if changed else memory.last_change_at
        last_scale_up_at = now if changed and before is not None and current > before else memory.last_scale_up_at
        ctx = PolicyContext(
            name=name,
            config=comp_cfg,
            settings=settings,
            state=comp_state,
            signals=signals,
            signal_index=index,
            memory=memory.policy,
            now=now,
            current=current,
            moving=changed or signals.stopping > 0,
            previous_count=before,
            last_scale_up_at=last_scale_up_at,
            frontends=others,
            profile=cfg.profile,
        )
        if not reported:
            rec = hold(ctx, Verdict.INSUFFICIENT_DATA, "no state reported for this component in the snapshot")
            work.append(
                _Work(name=name, policy=policy, current=current, rec=rec, value=current, limits=[], memory=memory)
            )
            continue
        seen = [len(f.invalid_inputs) for f in others]
        rec = POLICIES[policy](ctx)
        invalid = _invalid_read(signals, others, seen)
        if invalid:
            rec = hold(ctx, Verdict.INSUFFICIENT_DATA, invalid_clause(name, invalid), inputs=(*invalid, *rec.inputs))
        item = _limit_component(
            name,
            policy,
            current,
            rec,
            comp_cfg,
            window,
            now,
            remembered=memory,
            last_change_at=last_change_at,
            last_scale_up_at=last_scale_up_at,
        )
        pin = state.pin(name, now) if pins else None
        if pin is not None:
            item.limits.append(LimitApplied("pin", item.value, pin.replicas, pin.describe()))
            item.value, item.pinned, item.pin_text = pin.replicas, True, pin.describe()
        memories[name] = item.memory
        work.append(item)

    _apply_budget(work, snapshot, cfg)
    decisions = tuple(_finish(w, mode) for w in work)
    decision = Decision(
        timestamp=now, mode=mode, components=decisions, namespace=graph.namespace, snapshot_timestamp=snapshot.timestamp
    )
    new_state = replace(state, components=MappingProxyType(memories), ticks=state.ticks + 1, last_tick_at=now)
    return decision, new_state


def _invalid_read(
    signals: ComponentSignals, others: tuple[ComponentSignals, ...], seen: list[int]
) -> list[SignalValue]:
    """The invalid values the policy met: its component's, and the frontends' read since ``seen``."""
    invalid = list(signals.invalid_inputs)
    for frontend, before in zip(others, seen, strict=True):
        invalid.extend(frontend.invalid_inputs[before:])
    return invalid


#: invalid values named in one reason (the record keeps them all)
_NAMED_INVALID = 3


def invalid_clause(component: str, invalid: list[SignalValue]) -> str:
    """``invalid input kv_usage=+Inf (decode-0): not a finite number; not acting on it`` (values of other
    components, e.g. a frontend's, are prefixed with the component)."""
    texts = list(
        dict.fromkeys(v.describe() if v.component == component else f"{v.component} {v.describe()}" for v in invalid)
    )
    named = texts[:_NAMED_INVALID]
    more = f" and {len(texts) - len(named)} more" if len(texts) > len(named) else ""
    head = "invalid input" if len(texts) == 1 else "invalid inputs"
    return f"{head} {', '.join(named)}{more}; not acting on it"


class _HistoryWindow:
    """The stabilisation settings, read once per tick."""

    __slots__ = ("down_s", "span_s", "up_s")

    def __init__(self, settings: PlannerSettings) -> None:
        self.up_s = settings.scale_up_stabilization_s
        self.down_s = settings.scale_down_stabilization_s
        self.span_s = max(self.up_s, self.down_s)


def _limit_component(
    name: str,
    policy: Policy,
    current: int,
    rec: Recommendation,
    comp_cfg: ComponentConfig,
    window: _HistoryWindow,
    now: float,
    *,
    remembered: ComponentMemory,
    last_change_at: float | None,
    last_scale_up_at: float | None,
) -> _Work:
    """Cold start, bounds and stabilisation applied to ``rec``, and the component's memory for the next tick."""
    limits: list[LimitApplied] = []
    value = rec.desired
    if rec.with_capacity_coming is not None and rec.with_capacity_coming != value:
        limits.append(
            LimitApplied("cold_start", value, rec.with_capacity_coming, "starting replicas count as capacity coming")
        )
        value = rec.with_capacity_coming
    if value < comp_cfg.min_replicas or value > comp_cfg.max_replicas:
        value, bound = clamp_bounds(value, comp_cfg.min_replicas, comp_cfg.max_replicas)
        if bound is not None:
            limits.append(bound)
    span = window.span_s
    recent = [p for p in remembered.recommendations if now - p[0] <= span]
    recent.append((now, value))
    history = tuple(recent)
    if value != current:  # the windows only ever hold back a change
        value, stable = stabilise(value, current, history, now, window.up_s, window.down_s)
        if stable is not None:
            limits.append(stable)
    # The engine's own facts, all written afresh; the policy's memory is carried whole.
    new_memory = ComponentMemory(
        last_count=current,
        last_observed_at=now,
        last_change_at=last_change_at,
        last_scale_up_at=last_scale_up_at,
        recommendations=history,
        policy=rec.memory,
    )
    return _Work(name=name, policy=policy, current=current, rec=rec, value=value, limits=limits, memory=new_memory)


def _apply_budget(work: list[_Work], snapshot: Snapshot, cfg: EngineConfig) -> None:
    """Fit the targets into the GPU budget (see :mod:`planner_tui.config.rules`), as upstream does."""
    graph = cfg.graph
    budget = budget_limit(graph)
    if budget is None:
        return
    counts = desired_counts(graph, snapshot)
    decided = {w.name: w for w in work}
    for item in work:
        counts[item.name] = item.value
    if gpus_needed(graph, counts) <= budget:
        return  # the common case: no need to build the budget's view
    items: list[BudgetItem] = []
    for name, comp in graph.components.items():
        if comp.gpus_per_replica <= 0:
            continue
        planned = decided.get(name)
        items.append(
            BudgetItem(
                name=name,
                target=counts[name],
                gpus_per_replica=comp.gpus_per_replica,
                min_replicas=comp.min_replicas,
                adjustable=planned is not None and not planned.pinned,
                remainder=planned is not None and comp.effective_sub_component_type == "decode",
            )
        )
    targets, limits = apply_gpu_budget(items, budget)
    for name, limit in limits.items():
        w = decided[name]
        w.limits.append(limit)
        w.value = targets[name]


#: each policy's name as the record holds it (an enum's ``.value`` is a property: slow in a per-component loop)
_POLICY_NAMES: Mapping[Policy, str] = MappingProxyType({p: p.value for p in Policy})


def _finish(w: _Work, mode: PlannerMode) -> ComponentDecision:
    rec, current, pinned = w.rec, w.current, w.pinned
    paused = mode is PlannerMode.PAUSED
    target = current if paused and not pinned else w.value
    reason = _reason(w, target, mode)
    if pinned:
        outcome = Outcome.PINNED
    elif paused:
        outcome = Outcome.PAUSED
    elif target == current:
        outcome = Outcome.UNCHANGED
    elif mode is PlannerMode.ADVISORY:
        outcome = Outcome.ADVISORY
    else:
        outcome = Outcome.PENDING
    return ComponentDecision(
        component=w.name,
        policy=_POLICY_NAMES[w.policy],
        current=current,
        desired=rec.desired,
        target=target,
        reason=reason,
        inputs=rec.inputs,
        limits=tuple(w.limits),
        outcome=outcome,
        verdict=rec.verdict,
        load=rec.load,
        predicted=rec.predicted,
    )


def _reason(w: _Work, target: int, mode: PlannerMode) -> str:
    """``decode 2->3: KV load 0.94 > 0.90 for 3 intervals`` (plus what limited it)."""
    name, current, clause = w.name, w.current, w.rec.clause
    if w.pinned:
        head = f"{name} {current}->{target}" if target != current else f"{name} {current}"
        return f"{head}: {w.pin_text}; policy wanted {w.rec.desired}: {clause}"
    if mode is PlannerMode.PAUSED:
        return f"{name} {current} (paused): policy would go to {w.value}: {clause}"
    text = f"{name} {current}->{target}: {clause}" if target != current else f"{name} {current} (hold): {clause}"
    if w.limits:
        biting = [lim.detail for lim in w.limits if lim.before != lim.after]
        if biting:
            text += "; " + "; ".join(biting)
    return text
