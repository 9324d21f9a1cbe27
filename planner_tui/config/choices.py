"""The graph file's named choices and bounds, without pydantic: the dashboard's first frame and the
planner's rules read them before (or without) a graph file is validated."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal, get_args

#: names of namespaces and components (they become file names, watcher names and labels)
NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
NAME_RULE = "lower-case letters, digits and '-', starting with a letter (at most 63 characters)"

#: bounds that keep counts and budgets within what a host (and the planner's arithmetic) can hold
MAX_REPLICAS = 4096
MAX_GPUS = 65536


class Policy(StrEnum):
    """How a component's replica count is decided."""

    LOAD = "load"  # upstream load-based rules (prefill queue, decode KV load)
    THROUGHPUT = "throughput"  # SLA: predicted demand / per-replica capacity
    TARGET = "target"  # HPA-style ceil(current * value / target) on any signal
    NONE = "none"  # not autoscaled (manual only)


#: the signal presets (which metric is which signal): ``dynamo`` names, or a plain ``vllm`` engine's
SignalPreset = Literal["dynamo", "vllm"]
SIGNAL_PRESETS: tuple[SignalPreset, ...] = get_args(SignalPreset)


class Predictor(StrEnum):
    """Load predictors for the throughput policy."""

    CONSTANT = "constant"
    MOVING_AVERAGE = "moving_average"
    LINEAR_TREND = "linear_trend"
    KALMAN = "kalman"


#: a component's counts when its table does not set them (``[components.NAME]``)
DEFAULT_MIN_REPLICAS = 1
DEFAULT_MAX_REPLICAS = 1
DEFAULT_GPUS_PER_REPLICA = 0
