"""Decisions as plain JSON data (the audit log's lines) and back, and their one-line summaries."""

from __future__ import annotations

import datetime as _dt
from typing import Any

from planner_tui.model.decisions import ComponentDecision, Decision, LimitApplied, Outcome, PlannerMode, Verdict
from planner_tui.model.signals import Signal, SignalValue

#: bumped when the line format changes incompatibly
RECORD_VERSION = 1


def _signal_to_dict(value: SignalValue, now: float) -> dict[str, Any]:
    return {
        "component": value.component,
        "signal": value.signal.value,
        "value": value.value,
        "timestamp": value.timestamp,
        "age_s": round(value.age(now), 3),
        "stale": value.stale,
        "replica": value.replica,
        "source": value.source,
    }


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """The JSON-ready form of ``decision``: inputs with their age, limits, outcome and reason per component."""
    now = decision.timestamp
    return {
        "v": RECORD_VERSION,
        "timestamp": decision.timestamp,
        "time": _dt.datetime.fromtimestamp(decision.timestamp, _dt.UTC).isoformat(timespec="milliseconds"),
        "namespace": decision.namespace,
        "mode": decision.mode.value,
        "snapshot_timestamp": decision.snapshot_timestamp,
        "summary": summary_line(decision),
        "components": [
            {
                "component": c.component,
                "policy": c.policy,
                "current": c.current,
                "desired": c.desired,
                "target": c.target,
                "verdict": c.verdict.value,
                "outcome": c.outcome.value,
                "error": c.error,
                "reason": c.reason,
                "load": c.load,
                "predicted": dict(c.predicted),
                "limits": [
                    {"limit": lim.limit, "before": lim.before, "after": lim.after, "detail": lim.detail}
                    for lim in c.limits
                ],
                "inputs": [_signal_to_dict(v, now) for v in c.inputs],
            }
            for c in decision.components
        ],
    }


def decision_from_dict(data: dict[str, Any]) -> Decision:
    """Rebuild a Decision from :func:`decision_to_dict`'s output (KeyError/ValueError when malformed)."""
    components = []
    for c in data["components"]:
        components.append(
            ComponentDecision(
                component=c["component"],
                policy=c["policy"],
                current=int(c["current"]),
                desired=int(c["desired"]),
                target=int(c["target"]),
                reason=c["reason"],
                inputs=tuple(
                    SignalValue(
                        component=v["component"],
                        signal=Signal(v["signal"]),
                        value=v["value"],
                        timestamp=v["timestamp"],
                        stale=bool(v.get("stale", False)),
                        replica=v.get("replica"),
                        source=v.get("source"),
                    )
                    for v in c.get("inputs", ())
                ),
                limits=tuple(
                    LimitApplied(lim["limit"], int(lim["before"]), int(lim["after"]), lim["detail"])
                    for lim in c.get("limits", ())
                ),
                outcome=Outcome(c["outcome"]),
                error=c.get("error"),
                verdict=Verdict(c.get("verdict", Verdict.NO_CHANGE.value)),
                load=c.get("load"),
                predicted=tuple((k, float(v)) for k, v in (c.get("predicted") or {}).items()),
            )
        )
    return Decision(
        timestamp=float(data["timestamp"]),
        mode=PlannerMode(data["mode"]),
        components=tuple(components),
        namespace=data.get("namespace", ""),
        snapshot_timestamp=data.get("snapshot_timestamp"),
    )


def decision_label(decision: Decision) -> str:
    """``SCALE_UP``, ``SCALE_DOWN``, ``SCALE_UP+DOWN`` or ``HOLD`` from the targets."""
    up = any(c.target > c.current for c in decision.components)
    down = any(c.target < c.current for c in decision.components)
    if up and down:
        return "SCALE_UP+DOWN"
    return "SCALE_UP" if up else "SCALE_DOWN" if down else "HOLD"


def summary_line(decision: Decision) -> str:
    """One line per tick, upstream style, with the reasons:

    ``SCALE_UP | decode 1->2: KV load 0.95 > 0.90 for 1 interval | current: prefill=1 decode=2``.
    Advisory and failed outcomes are marked after the label.
    """
    label = decision_label(decision)
    marks = []
    if decision.mode is not PlannerMode.AUTO:
        marks.append(decision.mode.value)
    failed = [c for c in decision.components if c.outcome is Outcome.FAILED]
    if failed:
        marks.append("FAILED: " + "; ".join(f"{c.component}: {c.error}" for c in failed))
    if marks:
        label += " (" + ", ".join(marks) + ")"
    changed = [c for c in decision.components if c.target != c.current]
    shown = changed or list(decision.components)
    reasons = "; ".join(c.reason for c in shown) or "no autoscaled components"
    counts = " ".join(
        f"{c.component}={c.target if c.outcome in (Outcome.APPLIED, Outcome.PINNED) else c.current}"
        for c in decision.components
    )
    return f"{label} | {reasons} | current: {counts}"
