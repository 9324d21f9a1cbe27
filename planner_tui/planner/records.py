"""Decisions as plain JSON data (the audit log's lines) and back, and their one-line summaries.

Serialising is total: a non-finite float anywhere in a decision (an input of +Inf, a NaN load) is
written as the string ``"+Inf"``, ``"-Inf"`` or ``"NaN"`` (strict JSON has no such numbers) and read
back as the float; nothing in a decision makes :func:`decision_to_dict` or :func:`json_line` raise.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

from planner_tui.model.decisions import ComponentDecision, Decision, LimitApplied, Outcome, PlannerMode, Verdict
from planner_tui.model.signals import Signal, SignalValue, format_value

#: bumped when the line format changes incompatibly
RECORD_VERSION = 1


_NON_FINITE = {"+Inf": math.inf, "Inf": math.inf, "inf": math.inf, "-Inf": -math.inf, "-inf": -math.inf}


def number(value: Any) -> float | str | None:
    """``value`` as strict JSON allows it: a finite float, None, or ``"+Inf"``/``"-Inf"``/``"NaN"``."""
    if value is None or isinstance(value, bool):
        return value
    try:
        result = float(value)
    except (TypeError, ValueError, OverflowError):
        return str(value)
    return result if math.isfinite(result) else format_value(result)


def parse_number(value: Any) -> float | None:
    """The float :func:`number` wrote (``"+Inf"`` -> inf, ``"NaN"`` -> nan); ValueError when it is none."""
    if value is None:
        return None
    if isinstance(value, str):
        if value in _NON_FINITE:
            return _NON_FINITE[value]
        if value.lower() == "nan":
            return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"not a number: {value!r}")
    return float(value)


def json_safe(data: Any) -> Any:
    """``data`` with every non-finite float replaced by its string (dicts, lists and tuples walked)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else format_value(data)
    if isinstance(data, dict):
        return {str(k): json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(v) for v in data]
    return data


def json_line(record: dict[str, Any]) -> bytes:
    """``record`` as one strict-JSON line (``\\n``-terminated); never raises for non-finite floats or
    values JSON has no type for (those are written as their ``str``)."""
    try:
        text = json.dumps(record, separators=(",", ":"), allow_nan=False, default=str)
    except ValueError:  # a non-finite float: written as a string instead
        text = json.dumps(json_safe(record), separators=(",", ":"), allow_nan=False, default=str)
    return (text + "\n").encode()


def _age(value: SignalValue, now: float) -> float | str | None:
    try:
        return number(round(value.age(now), 3))
    except (TypeError, ValueError, OverflowError):
        return None


def _signal_to_dict(value: SignalValue, now: float) -> dict[str, Any]:
    return {
        "component": value.component,
        "signal": value.signal.value,
        "value": number(value.value),
        "timestamp": number(value.timestamp),
        "age_s": _age(value, now),
        "stale": value.stale,
        "invalid": value.invalid,
        "replica": value.replica,
        "source": value.source,
    }


def _iso_time(timestamp: float) -> str | None:
    try:
        return _dt.datetime.fromtimestamp(timestamp, _dt.UTC).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError, TypeError):
        return None


def decision_to_dict(decision: Decision) -> dict[str, Any]:
    """The JSON-ready form of ``decision``: inputs with their age, limits, outcome and reason per component."""
    now = decision.timestamp
    return {
        "v": RECORD_VERSION,
        "timestamp": number(decision.timestamp),
        "time": _iso_time(decision.timestamp),
        "namespace": decision.namespace,
        "mode": decision.mode.value,
        "snapshot_timestamp": number(decision.snapshot_timestamp),
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
                "load": number(c.load),
                "predicted": {k: number(v) for k, v in c.predicted},
                **({"answer": c.answer} if c.answer is not None else {}),
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
                        value=parse_number(v["value"]),
                        timestamp=parse_number(v["timestamp"]) or 0.0,
                        stale=bool(v.get("stale", False)),
                        replica=v.get("replica"),
                        source=v.get("source"),
                        invalid=v.get("invalid"),
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
                load=parse_number(c.get("load")),
                predicted=tuple((k, parse_number(v) or 0.0) for k, v in (c.get("predicted") or {}).items()),
                answer=c.get("answer") if isinstance(c.get("answer"), str) else None,
            )
        )
    return Decision(
        timestamp=parse_number(data["timestamp"]) or 0.0,
        mode=PlannerMode(data["mode"]),
        components=tuple(components),
        namespace=data.get("namespace", ""),
        snapshot_timestamp=parse_number(data.get("snapshot_timestamp")),
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
    answers = list(dict.fromkeys(c.answer for c in decision.components if c.answer))
    told = "".join(f" | {answer}" for answer in answers)  # a delegating backend's service's reply
    return f"{label} | {reasons} | current: {counts}{told}"
