"""A plausible performance model of one serving engine (prefill, decode, or both), free of I/O and clocks.

The engine holds requests as :class:`Sequence`s in a waiting queue and a running batch, like vLLM:

- ``max_num_seqs`` concurrency slots and ``kv_blocks`` KV-cache blocks of ``block_size`` tokens;
  KV usage = used / total blocks;
- a prefill step's time grows with the prompt tokens in the batch (up to ``max_batch_tokens``);
- a decode step's time grows with the batch size; each running sequence gains one token per step;
- when a sequence needs a new block and none is free, the most recently admitted sequence is preempted
  (its blocks freed, back to the head of the waiting queue, recomputed when admitted again).

The worker process drives it: :meth:`Engine.begin_step` plans a step and returns its simulated duration,
the worker sleeps that long, then :meth:`Engine.finish_step` applies it. Between the two, the gauges show
the step in progress.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class EngineRole(StrEnum):
    """What an engine does with a request."""

    PREFILL = "prefill"  # computes the prompt and the first token, then hands the request on
    DECODE = "decode"  # receives a prefilled request (its KV transferred) and generates the rest
    WORKER = "worker"  # aggregated: prefill and decode in one engine


@dataclass(frozen=True, slots=True)
class PerfParams:
    """The knobs of the model. Times are simulated seconds."""

    max_num_seqs: int = 48
    kv_blocks: int = 1024
    block_size: int = 16
    prefetch: int = 4  # requests a worker takes into its own waiting queue beyond those running
    prefill_base_s: float = 0.010
    prefill_per_token_s: float = 0.0002  # 5,000 prompt tokens/s per engine
    max_batch_tokens: int = 8192  # prompt tokens computed in one step
    decode_base_s: float = 0.012
    decode_per_seq_s: float = 0.0006
    cold_start_s: float = 5.0
    jitter: float = 0.0  # step times vary by up to this fraction (drawn from the engine's seeded RNG)

    def __post_init__(self) -> None:
        for name in ("max_num_seqs", "kv_blocks", "block_size", "max_batch_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("prefill_base_s", "prefill_per_token_s", "decode_base_s", "decode_per_seq_s", "cold_start_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be in [0, 1), got {self.jitter}")
        if self.prefetch < 0:
            raise ValueError(f"prefetch must be >= 0, got {self.prefetch}")

    def prefill_time(self, prompt_tokens: int) -> float:
        """Seconds to compute ``prompt_tokens`` prompt tokens in one step."""
        return self.prefill_base_s + self.prefill_per_token_s * prompt_tokens

    def decode_step_time(self, batch_size: int) -> float:
        """Seconds for one decode step of ``batch_size`` sequences (the inter-token latency)."""
        return self.decode_base_s + self.decode_per_seq_s * batch_size

    def blocks_for(self, tokens: int) -> int:
        """KV blocks that hold ``tokens`` tokens."""
        return math.ceil(tokens / self.block_size)


@dataclass(slots=True, eq=False)
class Sequence:
    """A request inside an engine."""

    request_id: int
    input_tokens: int
    output_tokens: int
    received_at: float
    generated: int = 0  # output tokens so far (1 when it arrives from a prefill worker)
    computed: bool = False  # its KV (prompt + generated) is in this engine's cache
    blocks: int = 0
    first_token_at: float | None = None
    itl_sum: float = 0.0
    itl_count: int = 0
    preemptions: int = 0
    error: str | None = None

    @property
    def tokens(self) -> int:
        """Tokens whose KV the sequence holds when computed."""
        return self.input_tokens + self.generated

    @property
    def done(self) -> bool:
        """All output tokens generated (or failed)."""
        return self.error is not None or self.generated >= self.output_tokens


@dataclass(slots=True)
class StepResult:
    """What one finished step produced."""

    duration: float
    first_tokens: list[Sequence] = field(default_factory=list)  # got their first token in this step
    decoded: int = 0  # sequences that got a later (non-first) token: each one inter-token latency
    finished: list[Sequence] = field(default_factory=list)  # leave the engine (done, or prefilled)


class Engine:
    """One engine's queue, batch and KV cache (see the module docstring)."""

    def __init__(self, role: EngineRole, params: PerfParams | None = None, rng: random.Random | None = None) -> None:
        self.role = role
        self.params = params or PerfParams()
        self._rng = rng or random.Random(0)
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.used_blocks = 0
        self.preemptions_total = 0
        self.busy_s_total = 0.0
        self.failed: list[Sequence] = []  # rejected: too large for this engine's cache
        self._step: tuple[float, list[Sequence], list[Sequence]] | None = None  # duration, batch, new

    # --- state -----------------------------------------------------------------------------------

    @property
    def kv_usage(self) -> float:
        """Used / total KV blocks, 0..1."""
        return self.used_blocks / self.params.kv_blocks

    @property
    def num_running(self) -> int:
        """Sequences in the running batch."""
        return len(self.running)

    @property
    def num_waiting(self) -> int:
        """Sequences waiting in this engine."""
        return len(self.waiting)

    @property
    def inflight(self) -> int:
        """Sequences held: running + waiting."""
        return len(self.running) + len(self.waiting)

    @property
    def idle(self) -> bool:
        """Nothing to do."""
        return not self.running and not self.waiting

    @property
    def stepping(self) -> bool:
        """A step has begun and not finished."""
        return self._step is not None

    def wants(self) -> int:
        """How many more requests this engine would take now (keeps ``prefetch`` waiting)."""
        return max(0, self.params.prefetch - len(self.waiting))

    # --- work in and out -------------------------------------------------------------------------

    def add(self, seq: Sequence) -> None:
        """Queue a request. A decode engine receives the prompt's KV from the prefill worker."""
        seq.computed = self.role is EngineRole.DECODE and seq.generated > 0
        self.waiting.append(seq)

    def take_waiting(self) -> list[Sequence]:
        """Remove and return the sequences not yet running (to hand them back)."""
        taken = list(self.waiting)
        self.waiting.clear()
        return taken

    def take_all(self) -> list[Sequence]:
        """Remove and return every sequence, freeing the cache (a step in progress is abandoned)."""
        taken = [*self.running, *self.waiting]
        self.running.clear()
        self.waiting.clear()
        self.used_blocks = 0
        self._step = None
        for seq in taken:
            seq.blocks = 0
            seq.computed = False
        return taken

    # --- stepping --------------------------------------------------------------------------------

    def begin_step(self) -> float | None:
        """Plan the next step and return its duration in seconds, or None when there is nothing to do."""
        if self._step is not None:
            raise RuntimeError("begin_step called twice without finish_step")
        if self.role is EngineRole.PREFILL:
            return self._begin_prefill()
        return self._begin_decode()

    def finish_step(self, now: float) -> StepResult:
        """Apply the step begun last: tokens generated, sequences finished and their blocks freed."""
        if self._step is None:
            raise RuntimeError("finish_step called without begin_step")
        duration, batch, new = self._step
        self._step = None
        self.busy_s_total += duration
        result = StepResult(duration)
        new_ids = {id(s) for s in new}
        for seq in batch:
            if seq not in self.running:
                continue  # preempted meanwhile (cannot happen today; kept safe)
            first = seq.generated == 0
            seq.generated += 1
            if first:
                seq.first_token_at = now
                result.first_tokens.append(seq)
            elif id(seq) not in new_ids:
                seq.itl_sum += duration
                seq.itl_count += 1
                result.decoded += 1
            if self.role is EngineRole.PREFILL or seq.done:
                result.finished.append(seq)
        for seq in result.finished:
            self.running.remove(seq)
            self._free(seq)
        return result

    def _begin_prefill(self) -> float | None:
        batch: list[Sequence] = []
        tokens = 0
        while self.waiting:
            seq = self.waiting[0]
            need = self.params.blocks_for(seq.input_tokens + 1)
            if need > self.params.kv_blocks:
                self.waiting.popleft()
                self._fail(seq, f"prompt of {seq.input_tokens} tokens exceeds the KV cache")
                continue
            if batch and (tokens + seq.input_tokens > self.params.max_batch_tokens or not self._can_take(need)):
                break
            if not self._can_take(need):
                break
            self.waiting.popleft()
            self._allocate(seq, need)
            batch.append(seq)
            tokens += seq.input_tokens
        self.running.extend(batch)
        if not self.running:
            return None
        duration = self._jittered(self.params.prefill_time(tokens))
        self._step = (duration, list(self.running), batch)
        return duration

    def _begin_decode(self) -> float | None:
        p = self.params
        new: list[Sequence] = []
        prompt_tokens = 0
        while self.waiting and len(self.running) < p.max_num_seqs:
            seq = self.waiting[0]
            if p.blocks_for(seq.input_tokens + seq.output_tokens) > p.kv_blocks:
                self.waiting.popleft()
                self._fail(seq, f"request of {seq.input_tokens}+{seq.output_tokens} tokens exceeds the KV cache")
                continue
            recompute = 0 if seq.computed else seq.tokens
            if new and prompt_tokens + recompute > p.max_batch_tokens:
                break
            need = p.blocks_for(seq.tokens + 1)
            if not self._can_take(need):
                break
            self.waiting.popleft()
            self._allocate(seq, need)
            seq.computed = True
            prompt_tokens += recompute
            self.running.append(seq)
            new.append(seq)
        self._grow_for_next_token()
        if not self.running:
            return None
        duration = p.decode_step_time(len(self.running))
        if prompt_tokens:
            duration += p.prefill_per_token_s * prompt_tokens
        duration = self._jittered(duration)
        self._step = (duration, list(self.running), new)
        return duration

    def _jittered(self, duration: float) -> float:
        jitter = self.params.jitter
        return duration * (1.0 + self._rng.uniform(-jitter, jitter)) if jitter else duration

    def _grow_for_next_token(self) -> None:
        """Give every running sequence room for its next token, preempting the newest when full."""
        for seq in list(self.running):
            if seq not in self.running:
                continue  # preempted by an earlier sequence's growth
            need = self.params.blocks_for(seq.tokens + 1)
            while seq.blocks < need:
                if self.used_blocks < self.params.kv_blocks:
                    seq.blocks += 1
                    self.used_blocks += 1
                    continue
                victim = self.running.pop()
                self._preempt(victim)
                if victim is seq:
                    break

    def _preempt(self, seq: Sequence) -> None:
        self._free(seq)
        seq.computed = False
        seq.preemptions += 1
        self.preemptions_total += 1
        self.waiting.appendleft(seq)

    def _can_take(self, blocks: int) -> bool:
        return self.used_blocks + blocks <= self.params.kv_blocks

    def _allocate(self, seq: Sequence, blocks: int) -> None:
        seq.blocks = blocks
        self.used_blocks += blocks

    def _free(self, seq: Sequence) -> None:
        self.used_blocks -= seq.blocks
        seq.blocks = 0

    def _fail(self, seq: Sequence, reason: str) -> None:
        seq.error = reason
        self.failed.append(seq)

    def take_failed(self) -> list[Sequence]:
        """Sequences rejected since the last call (too large for this engine's cache)."""
        failed, self.failed = self.failed, []
        return failed
