"""``planner-tui sim frontend|worker|load|stats``: the simulated serving graph and its load control.

The process commands import only the sim modules they run (stdlib asyncio and prometheus_client), so a
replica starts fast and stays small; ``load`` and ``stats`` import the httpx control client.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import click

SPEEDUP_ENV = "PLANNER_TUI_SIM_SPEEDUP"
URL_ENV = "PLANNER_TUI_SIM_URL"
TOKEN_FILE_ENV = "PLANNER_TUI_SIM_TOKEN_FILE"  # the same as planner_tui.sim.auth.TOKEN_FILE_ENV
DEFAULT_URL = "http://127.0.0.1:21080"
EXIT_BAD_INPUT = 2
T = TypeVar("T")

F = TypeVar("F", bound=Callable[..., Any])


def _setup_logging() -> None:
    import faulthandler
    import signal

    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack to the log
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _allow_remote_option(func: F) -> F:
    return click.option(
        "--allow-remote",
        is_flag=True,
        help="Allow --host to be a non-loopback address (other machines could then reach this process).",
    )(func)


def _check_host(host: str, allow_remote: bool) -> None:
    from planner_tui.sim.auth import check_bind_host

    try:
        check_bind_host(host, allow_remote)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--host") from None


def _token_file_option(help_text: str) -> Callable[[F], F]:
    def decorate(func: F) -> F:
        return click.option(
            "--token-file",
            type=click.Path(dir_okay=False),
            envvar=TOKEN_FILE_ENV,
            help=f"{help_text} (also ${TOKEN_FILE_ENV}; default: <state dir>/sim/port-PORT/control.token).",
        )(func)

    return decorate


def _speedup_option(func: F) -> F:
    return click.option(
        "--speedup",
        type=click.FloatRange(min=0.001),
        default=1.0,
        show_default=True,
        envvar=SPEEDUP_ENV,
        help=f"Simulated seconds per real second (also ${SPEEDUP_ENV}); use the same value for the whole graph.",
    )(func)


@click.group("sim")
def sim_group() -> None:
    """The simulated serving graph: frontend and workers as real processes, and its load control."""


# --- frontend ---------------------------------------------------------------------------------------

PROFILE_KINDS = ("constant", "sine", "step", "burst", "replay")


def _profile_dict(kind: str, opts: dict[str, Any]) -> dict[str, Any]:
    """The control-endpoint JSON of a profile from command-line options."""
    from planner_tui.sim.profiles import parse_steps_text

    if kind == "constant":
        return {"kind": kind, "rps": opts["rps"]}
    if kind == "sine":
        return {"kind": kind, "min_rps": opts["min_rps"], "max_rps": opts["max_rps"], "period_s": opts["period"]}
    if kind == "step":
        if not opts.get("steps"):
            raise click.UsageError("the step profile needs --steps AT_S:RPS,... e.g. --steps 0:2,60:12,120:2")
        result: dict[str, Any] = {"kind": kind, "steps": parse_steps_text(opts["steps"])}
        if opts.get("period"):
            result["period_s"] = opts["period"]
        return result
    if kind == "burst":
        return {
            "kind": kind,
            "base_rps": opts["base_rps"],
            "burst_rps": opts["burst_rps"],
            "every_s": opts["every"],
            "duration_s": opts["duration"],
        }
    if not opts.get("trace"):
        raise click.UsageError("the replay profile needs --trace FILE (CSV of timestamp,input_tokens,output_tokens)")
    return {"kind": kind, "path": opts["trace"], "rate_scale": opts["rate_scale"], "loop": not opts["no_loop"]}


def _distribution(dist: str, mean: float, std: float | None, low: int, high: int) -> dict[str, Any]:
    return {"dist": dist, "mean": mean, "std": 0.0 if std is None else std, "min": low, "max": high}


@sim_group.command("frontend")
@click.option("--port", type=click.IntRange(0, 65535), default=21080, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--profile", "kind", type=click.Choice(PROFILE_KINDS), default="constant", show_default=True)
@click.option("--rps", type=click.FloatRange(min=0), default=5.0, show_default=True, help="constant: requests/s")
@click.option("--min-rps", type=click.FloatRange(min=0), default=2.0, show_default=True, help="sine: lowest rate")
@click.option("--max-rps", type=click.FloatRange(min=0), default=18.0, show_default=True, help="sine: highest rate")
@click.option(
    "--period",
    type=click.FloatRange(min=0, min_open=True),
    default=180.0,
    show_default=True,
    help="sine: seconds per cycle; step: repeat the steps every PERIOD seconds",
)
@click.option("--steps", help="step: AT_S:RPS pairs, e.g. 0:2,60:12,120:2")
@click.option("--base-rps", type=click.FloatRange(min=0), default=2.0, show_default=True, help="burst: base rate")
@click.option("--burst-rps", type=click.FloatRange(min=0), default=20.0, show_default=True, help="burst: peak rate")
@click.option(
    "--every",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="burst: seconds between bursts",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="burst: seconds each burst lasts",
)
@click.option("--trace", type=click.Path(dir_okay=False), help="replay: CSV of timestamp,input_tokens,output_tokens")
@click.option(
    "--rate-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="replay: >1 replays faster",
)
@click.option("--no-loop", is_flag=True, help="replay: stop at the end of the trace instead of looping")
@click.option(
    "--isl-dist",
    type=click.Choice(["constant", "normal", "lognormal", "uniform"]),
    default="normal",
    show_default=True,
    help="input length distribution",
)
@click.option("--isl", type=click.FloatRange(min=1), default=512.0, show_default=True, help="mean input tokens")
@click.option("--isl-std", type=click.FloatRange(min=0), default=128.0, show_default=True)
@click.option("--isl-range", type=(int, int), default=(16, 4096), show_default=True, help="min and max input tokens")
@click.option(
    "--osl-dist",
    type=click.Choice(["constant", "normal", "lognormal", "uniform"]),
    default="normal",
    show_default=True,
    help="output length distribution",
)
@click.option("--osl", type=click.FloatRange(min=1), default=128.0, show_default=True, help="mean output tokens")
@click.option("--osl-std", type=click.FloatRange(min=0), default=32.0, show_default=True)
@click.option("--osl-range", type=(int, int), default=(4, 1024), show_default=True, help="min and max output tokens")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of arrivals and request sizes.")
@click.option("--model", default="sim-model", show_default=True, help="The model label on the metrics.")
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    default=10.0,
    show_default=True,
    help="Real seconds without a call before a worker's requests are handed back.",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    default=60.0,
    show_default=True,
    help="Real seconds after the load stops (rate 0) for every request to finish before the drain check fails.",
)
@_allow_remote_option
@_token_file_option("Where to write the control token that POSTs must carry")
@_speedup_option
def frontend(
    port: int,
    host: str,
    kind: str,
    isl_dist: str,
    isl: float,
    isl_std: float,
    isl_range: tuple[int, int],
    osl_dist: str,
    osl: float,
    osl_std: float,
    osl_range: tuple[int, int],
    seed: int,
    model: str,
    lease: float,
    drain_timeout: float,
    allow_remote: bool,
    token_file: str | None,
    speedup: float,
    **profile_opts: Any,
) -> None:
    """Run the simulated frontend: generate load, route requests to workers, serve /metrics and /control.

    It writes a random control token to its token file (0600); changing the load and the workers' calls
    need it (`planner-tui sim load` reads it). It listens on loopback only unless --allow-remote.
    """
    from planner_tui.sim.profiles import ProfileError, parse_workload

    _check_host(host, allow_remote)
    _setup_logging()
    try:
        data = _profile_dict(kind, profile_opts)
        data["isl"] = _distribution(isl_dist, isl, isl_std, *isl_range)
        data["osl"] = _distribution(osl_dist, osl, osl_std, *osl_range)
        workload = parse_workload(data)
    except ProfileError as exc:
        raise click.BadParameter(str(exc), param_hint="the load profile") from None

    from planner_tui.sim.frontend import FrontendOptions, serve

    serve(
        FrontendOptions(
            workload,
            port,
            host,
            seed,
            speedup,
            model,
            lease,
            allow_remote=allow_remote,
            token_file=token_file,
            drain_timeout_s=drain_timeout,
        )
    )


# --- worker -----------------------------------------------------------------------------------------


@sim_group.command("worker")
@click.option(
    "--role",
    type=click.Choice(["prefill", "decode", "worker"]),
    required=True,
    help="prefill, decode, or worker (aggregated prefill+decode)",
)
@click.option("--frontend", "frontend_url", default=DEFAULT_URL, show_default=True, help="The frontend's base URL.")
@click.option("--port", type=click.IntRange(0, 65535), default=0, help="Metrics/health port (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option(
    "--cold-start",
    type=click.FloatRange(min=0),
    default=5.0,
    show_default=True,
    help="Simulated seconds before the worker is ready (/health answers 503 until then).",
)
@click.option("--max-num-seqs", type=click.IntRange(min=1), default=48, show_default=True, help="Concurrency slots.")
@click.option("--kv-blocks", type=click.IntRange(min=1), default=1024, show_default=True, help="KV-cache blocks.")
@click.option("--block-size", type=click.IntRange(min=1), default=16, show_default=True, help="Tokens per block.")
@click.option(
    "--prefetch",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="Requests kept waiting in the worker beyond those running.",
)
@click.option("--prefill-tokens-per-s", type=click.FloatRange(min=1), default=5000.0, show_default=True)
@click.option("--max-batch-tokens", type=click.IntRange(min=1), default=8192, show_default=True)
@click.option(
    "--decode-step-ms",
    type=click.FloatRange(min=0),
    default=12.0,
    show_default=True,
    help="Decode step time of a batch of one.",
)
@click.option(
    "--decode-ms-per-seq",
    type=click.FloatRange(min=0),
    default=0.6,
    show_default=True,
    help="Extra decode step time per sequence in the batch.",
)
@click.option(
    "--drain-timeout",
    type=click.FloatRange(min=0),
    default=3.0,
    show_default=True,
    help="Real seconds to finish running requests after SIGTERM before handing them back.",
)
@click.option(
    "--worker-id",
    help="Name reported to the frontend, followed by @PID-NONCE (default: $PLANNER_TUI_REPLICA, else the role).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the step-time jitter.")
@click.option(
    "--jitter",
    type=click.FloatRange(0, 0.5),
    default=0.05,
    show_default=True,
    help="Step times vary by up to this fraction.",
)
@click.option("--model", default="sim-model", show_default=True)
@_allow_remote_option
@_token_file_option("The frontend's control token file")
@_speedup_option
def worker(
    role: str,
    frontend_url: str,
    port: int,
    host: str,
    cold_start: float,
    max_num_seqs: int,
    kv_blocks: int,
    block_size: int,
    prefetch: int,
    prefill_tokens_per_s: float,
    max_batch_tokens: int,
    decode_step_ms: float,
    decode_ms_per_seq: float,
    drain_timeout: float,
    worker_id: str | None,
    seed: int,
    jitter: float,
    model: str,
    allow_remote: bool,
    token_file: str | None,
    speedup: float,
) -> None:
    """Run a simulated worker: pull requests from the frontend, serve /metrics (vLLM, Dynamo, DCGM) and /health.

    Simulated GPUs are the indices in CUDA_VISIBLE_DEVICES.
    """
    from urllib.parse import urlsplit

    from planner_tui.sim.perf_model import EngineRole, PerfParams
    from planner_tui.sim.worker import WorkerOptions, gpus_from_env, serve

    parts = urlsplit(frontend_url)
    if parts.scheme != "http" or not parts.hostname:
        raise click.BadParameter(f"expected a URL like {DEFAULT_URL}, got {frontend_url!r}", param_hint="--frontend")
    _check_host(host, allow_remote)
    _setup_logging()
    params = PerfParams(
        max_num_seqs=max_num_seqs,
        kv_blocks=kv_blocks,
        block_size=block_size,
        prefetch=prefetch,
        prefill_per_token_s=1.0 / prefill_tokens_per_s,
        max_batch_tokens=max_batch_tokens,
        decode_base_s=decode_step_ms / 1000.0,
        decode_per_seq_s=decode_ms_per_seq / 1000.0,
        cold_start_s=cold_start,
        jitter=jitter,
    )
    serve(
        WorkerOptions(
            role=EngineRole(role),
            frontend_url=frontend_url,
            port=port,
            host=host,
            params=params,
            speedup=speedup,
            drain_timeout_s=drain_timeout,
            worker_id=worker_id,
            model=model,
            gpus=gpus_from_env(),
            seed=seed,
            allow_remote=allow_remote,
            token_file=token_file,
        )
    )


# --- load control -----------------------------------------------------------------------------------


def _run_control(coro: Coroutine[Any, Any, dict[str, Any]]) -> None:
    from planner_tui.sim.control import SimControlError

    try:
        result = asyncio.run(coro)
    except SimControlError as exc:
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_BAD_INPUT if exc.status == 400 else 1) from None
    click.echo(json.dumps(result, indent=2))


_url_option = click.option(
    "--url", default=DEFAULT_URL, show_default=True, envvar=URL_ENV, help=f"The frontend's base URL (also ${URL_ENV})."
)


@dataclass(frozen=True)
class LoadTarget:
    """The frontend that ``sim load`` talks to, and where its control token is."""

    url: str
    token_file: str | None


@sim_group.group("load", invoke_without_command=True)
@_url_option
@_token_file_option("The frontend's control token file, sent as a Bearer token when changing the load")
@click.option("--scale", type=click.FloatRange(min=0), help="Multiply the current request rate by this factor.")
@click.pass_context
def load(ctx: click.Context, url: str, token_file: str | None, scale: float | None) -> None:
    """Show or change the simulated frontend's load while it runs.

    Changes carry the frontend's control token, read from its token file (written by a frontend you
    started, with the same state directory); without it the frontend answers 401 and changes nothing.

    \b
    planner-tui sim load                          show the current profile
    planner-tui sim load --scale 1.5              50% more requests per second
    planner-tui sim load constant --rps 12
    planner-tui sim load sine --min-rps 2 --max-rps 18 --period 180
    planner-tui sim load step --steps 0:2,60:12,120:2
    planner-tui sim load burst --base-rps 2 --burst-rps 20 --every 60 --duration 10
    planner-tui sim load replay trace.csv --rate-scale 2
    """
    from planner_tui.sim import control

    ctx.obj = LoadTarget(url, token_file)
    if ctx.invoked_subcommand is not None:
        if scale is not None:
            raise click.UsageError("--scale changes the current profile; give either --scale or a profile, not both")
        return
    if scale is None:
        _run_control(control.get_profile(url))
    else:
        _run_control(control.scale_load(url, scale, token_file=token_file))


def _set(target: LoadTarget, profile: dict[str, Any]) -> None:
    from planner_tui.sim import control

    _run_control(control.set_profile(target.url, profile, token_file=target.token_file))


@load.command("constant")
@click.option("--rps", type=click.FloatRange(min=0), required=True, help="Requests per second.")
@click.pass_obj
def load_constant(target: LoadTarget, rps: float) -> None:
    """A fixed request rate."""
    _set(target, {"kind": "constant", "rps": rps})


@load.command("sine")
@click.option("--min-rps", type=click.FloatRange(min=0), required=True)
@click.option("--max-rps", type=click.FloatRange(min=0), required=True)
@click.option("--period", type=click.FloatRange(min=0, min_open=True), default=180.0, show_default=True)
@click.pass_obj
def load_sine(target: LoadTarget, min_rps: float, max_rps: float, period: float) -> None:
    """A rate that starts at MIN-RPS, peaks at MAX-RPS half a period later, and comes back."""
    _set(target, {"kind": "sine", "min_rps": min_rps, "max_rps": max_rps, "period_s": period})


@load.command("step")
@click.option("--steps", required=True, help="AT_S:RPS pairs, e.g. 0:2,60:12,120:2")
@click.option("--period", type=click.FloatRange(min=0, min_open=True), help="Repeat every PERIOD seconds.")
@click.pass_obj
def load_step(target: LoadTarget, steps: str, period: float | None) -> None:
    """A piecewise-constant rate."""
    from planner_tui.sim.profiles import ProfileError

    try:
        profile = _profile_dict("step", {"steps": steps, "period": period})
    except ProfileError as exc:
        raise click.BadParameter(str(exc), param_hint="--steps") from None
    _set(target, profile)


@load.command("burst")
@click.option("--base-rps", type=click.FloatRange(min=0), required=True)
@click.option("--burst-rps", type=click.FloatRange(min=0), required=True)
@click.option("--every", type=click.FloatRange(min=0, min_open=True), default=60.0, show_default=True)
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), default=10.0, show_default=True)
@click.pass_obj
def load_burst(target: LoadTarget, base_rps: float, burst_rps: float, every: float, duration: float) -> None:
    """BASE-RPS, with BURST-RPS for DURATION seconds at the end of every EVERY seconds."""
    profile = {"kind": "burst", "base_rps": base_rps, "burst_rps": burst_rps, "every_s": every, "duration_s": duration}
    _set(target, profile)


@load.command("replay")
@click.argument("trace", type=click.Path(exists=True, dir_okay=False, resolve_path=True))
@click.option("--rate-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True)
@click.option("--no-loop", is_flag=True, help="Stop at the end of the trace instead of looping.")
@click.pass_obj
def load_replay(target: LoadTarget, trace: str, rate_scale: float, no_loop: bool) -> None:
    """Replay TRACE, a CSV of timestamp,input_tokens,output_tokens (read by the frontend's process)."""
    _set(target, {"kind": "replay", "path": trace, "rate_scale": rate_scale, "loop": not no_loop})


@sim_group.command("stats")
@_url_option
def stats(url: str) -> None:
    """Print the frontend's request conservation figures (requests in, completed, in flight, queues)."""
    from planner_tui.sim import control

    _run_control(control.get_stats(url))
