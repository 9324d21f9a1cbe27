"""``planner-tui compare``: candidate planner settings in closed loop against one workload, in virtual time.

The workload is a recording's (``--recording``), a CSV trace (``--trace``), a load profile
(``--profile JSON``), or by default the graph's own simulated frontend's profile. The graph's sim worker
components (their ``planner_tui sim worker`` command lines) give the performance model of each replica.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.cli.plan_cmd import FiniteRange
from planner_tui.config import GraphConfig, demo_graph_path, load_graph
from planner_tui.config.templates import ReplicaContext
from planner_tui.model.components import Role

EXIT_BAD_INPUT = 2


class CompareInputError(ValueError):
    """The graph, workload or candidates cannot be compared; the message names the fix."""


def _sim_args(graph: GraphConfig, name: str, kind: str) -> list[str] | None:
    """The ``planner_tui sim KIND`` arguments of component ``name``, rendered for replica 0 (None: not a sim)."""
    component = graph.components[name]
    args = list(component.args)
    for i in range(len(args) - 1):
        if args[i] == "sim" and args[i + 1] == kind:
            context = ReplicaContext(graph.namespace, name, 0, port=0, ports={n: 1 for n in graph.components})
            rendered = []
            for arg in args[i + 2 :]:
                try:
                    rendered.append(context.render(arg))
                except ValueError:
                    rendered.append(arg)
            return rendered
    return None


def worker_specs(graph: GraphConfig) -> list[Any]:
    """The performance model of each worker component, from its ``planner_tui sim worker`` command line."""
    from planner_tui.cli.sim_cmd import worker as worker_command
    from planner_tui.sim.perf_model import EngineRole, PerfParams
    from planner_tui.sim.virtual import WorkerSpec

    specs = []
    for name, component in graph.components.items():
        if component.role is Role.FRONTEND:
            continue
        args = _sim_args(graph, name, "worker")
        if args is None:
            raise CompareInputError(
                f"component {name!r} is not a planner-tui sim worker, so compare has no performance model for it; "
                "compare graphs whose workers run 'planner_tui sim worker' (simulated = true), like the demo"
            )
        try:
            ctx = worker_command.make_context("worker", args)
        except click.ClickException as exc:
            message = exc.format_message()
            raise CompareInputError(f"component {name!r}: its sim worker arguments are wrong: {message}") from None
        p = ctx.params
        params = PerfParams(
            max_num_seqs=p["max_num_seqs"],
            kv_blocks=p["kv_blocks"],
            block_size=p["block_size"],
            prefetch=p["prefetch"],
            prefill_per_token_s=1.0 / p["prefill_tokens_per_s"],
            max_batch_tokens=p["max_batch_tokens"],
            decode_base_s=p["decode_step_ms"] / 1000.0,
            decode_per_seq_s=p["decode_ms_per_seq"] / 1000.0,
            cold_start_s=p["cold_start"],
            jitter=p["jitter"],
        )
        seed_arg = component.args[component.args.index("--seed") + 1] if "--seed" in component.args else ""
        specs.append(
            WorkerSpec(
                name,
                EngineRole(p["role"]),
                params,
                drain_timeout_s=p["drain_timeout"],
                gpus_per_replica=component.gpus_per_replica,
                seed_is_index="{replica}" in seed_arg,
                seed=p["seed"],
            )
        )
    return specs


def graph_workload(graph: GraphConfig) -> Any:
    """The load profile of the graph's simulated frontend (its command line), or None without one."""
    from planner_tui.cli.sim_cmd import _distribution, _profile_dict
    from planner_tui.cli.sim_cmd import frontend as frontend_command
    from planner_tui.sim.profiles import ProfileError, parse_workload

    for name, component in graph.components.items():
        if component.role is not Role.FRONTEND:
            continue
        args = _sim_args(graph, name, "frontend")
        if args is None:
            continue
        try:
            p = frontend_command.make_context("frontend", args).params
            data = _profile_dict(p["kind"], p)
            data["isl"] = _distribution(p["isl_dist"], p["isl"], p["isl_std"], *p["isl_range"])
            data["osl"] = _distribution(p["osl_dist"], p["osl"], p["osl_std"], *p["osl_range"])
            return parse_workload(data), int(p["seed"])
        except (click.ClickException, ProfileError) as exc:
            message = exc.format_message() if isinstance(exc, click.ClickException) else str(exc)
            raise CompareInputError(f"component {name!r}: its sim frontend arguments are wrong: {message}") from None
    return None


@click.command("compare")
@click.option(
    "--graph",
    "graph_file",
    type=click.Path(dir_okay=False),
    help="graph file (default: the recording's, else the demo)",
)
@click.option("--recording", type=click.Path(dir_okay=False), help="replay this recording's workload")
@click.option(
    "--trace", type=click.Path(dir_okay=False), help="replay a CSV trace: timestamp,input_tokens,output_tokens"
)
@click.option(
    "--profile",
    "profile_json",
    help='a load profile as JSON, e.g. \'{"kind": "sine", "min_rps": 2, "max_rps": 18, "period_s": 180}\'',
)
@click.option(
    "--duration",
    type=FiniteRange(min=1, max=30 * 86400),
    help="simulated seconds (default: the workload's span; profiles: 3600)",
)
@click.option(
    "--candidate", "candidate_texts", multiple=True, help='"NAME: key=value, ..." of [planner] settings (repeatable)'
)
@click.option(
    "--candidates", "candidates_file", type=click.Path(dir_okay=False), help="a TOML file of [candidates.NAME] tables"
)
@click.option("--no-baseline", is_flag=True, help="leave out the graph's own settings")
@click.option(
    "--seed", type=int, default=None, help="seed of arrivals and request sizes (default: the frontend's, else 0)"
)
@click.option(
    "--queue-bound",
    type=FiniteRange(min=0.1, max=86400),
    default=30.0,
    show_default=True,
    help="seconds a request may wait for its first token",
)
@click.option(
    "--flap-window",
    type=FiniteRange(min=0, max=86400),
    default=60.0,
    show_default=True,
    help="a change undone within this many seconds is a flap",
)
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
@click.option("--charts/--no-charts", default=True, show_default=True, help="draw each candidate's replicas over time")
@report_config_errors
def compare(
    graph_file: str | None,
    recording: str | None,
    trace: str | None,
    profile_json: str | None,
    duration: float | None,
    candidate_texts: Sequence[str],
    candidates_file: str | None,
    no_baseline: bool,
    seed: int | None,
    queue_bound: float,
    flap_window: float,
    as_json: bool,
    charts: bool,
) -> None:
    """Compare planner settings on one workload: SLA attainment, GPU-seconds, actions, flaps, drops.

    Runs the graph's simulated workers (the same performance model as the demo's processes) and the
    real planner engine in virtual time, much faster than real time; the same seed gives the same result.
    """
    from planner_tui.compare.candidates import CandidateError, load_candidates, parse_candidate, with_baseline
    from planner_tui.compare.report import charts as draw_charts
    from planner_tui.compare.report import table, to_json
    from planner_tui.compare.run import DEFAULT_EPOCH, Bounds, run_candidate
    from planner_tui.compare.workload import WorkloadError, profile_source, recording_source, trace_source
    from planner_tui.recording import RecordingError, read_recording
    from planner_tui.sim.profiles import ProfileError, parse_workload

    given = [
        name for name, value in (("--recording", recording), ("--trace", trace), ("--profile", profile_json)) if value
    ]
    if len(given) > 1:
        raise click.UsageError(f"give one workload, not {' and '.join(given)}")
    try:
        epoch = DEFAULT_EPOCH
        recorded = None
        if recording:
            recorded = read_recording(recording)
            for problem in recorded.problems:
                click.echo(f"warning: {problem}", err=True)
        graph = load_graph(graph_file) if graph_file else recorded.graph if recorded else load_graph(demo_graph_path())
        workers = worker_specs(graph)
        own = graph_workload(graph)
        if recorded is not None:
            source = recording_source(recorded.workload, recording or "", duration)
            epoch = recorded.workload[0].start
        elif trace:
            source = trace_source(trace, duration, own[0] if own else None)
        elif profile_json:
            try:
                data = json.loads(profile_json)
            except json.JSONDecodeError as exc:
                raise WorkloadError(
                    f'--profile is not JSON ({exc}); e.g. \'{{"kind": "constant", "rps": 8}}\''
                ) from None
            source = profile_source(parse_workload(data, own[0] if own else None), duration or 3600.0)
        elif own is not None:
            source = profile_source(own[0], duration or 3600.0)
        else:
            raise WorkloadError(
                "the graph has no simulated frontend to take a load profile from; "
                "give --recording, --trace or --profile"
            )
        run_seed = seed if seed is not None else (own[1] if own else 0)
        candidates = [parse_candidate(text, graph.planner) for text in candidate_texts]
        if candidates_file:
            candidates += load_candidates(candidates_file, graph.planner)
        candidates = with_baseline(candidates, graph.planner, include=not no_baseline)
    except (CompareInputError, WorkloadError, CandidateError, RecordingError, ProfileError) as exc:
        click.echo(f"planner-tui compare: {exc}", err=True)
        raise SystemExit(EXIT_BAD_INPUT) from None

    bounds = Bounds(queue_bound_s=queue_bound, flap_window_s=flap_window)
    click.echo(
        f"planner-tui compare: {len(candidates)} candidate(s) on {source.description}, "
        f"{source.duration_s:.0f} simulated s, seed {run_seed}",
        err=True,
    )
    results = []
    for candidate in candidates:
        result = run_candidate(
            graph, workers, source, candidate, seed=run_seed, epoch=epoch, bounds=bounds, keep_timeline=charts
        )
        click.echo(f"  {candidate.name}: {result.wall_s:.1f} s", err=True)
        results.append(result)
    if as_json:
        click.echo(to_json(results, source.description))
        return
    click.echo(table(results))
    if charts:
        click.echo("")
        click.echo(draw_charts(results, width=min(200, max(80, _terminal_width()))))


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((160, 24)).columns if sys.stdout.isatty() else 160
