"""``planner-tui profile``: measure one replica's capacity and write the throughput policy's profile.

Brings the graph up (or attaches to it when it was left running) with the planner paused and one
replica per measured component, sweeps load through its frontend, and writes the profile (TOML, the
``profile_file`` of the throughput policy) with the raw sweep next to it (``NAME.sweep.json``), then
prints the capacity found and a chart of latency against load per component.

Exit codes: 0 done; 1 the graph or its frontend failed; 2 bad input (nothing was started); 3 no
length met its target (the raw sweep is written, no profile); 130 stopped with Ctrl-C (a partial
profile, marked as such, holds what was measured).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from planner_tui.cli.errors import report_config_errors
from planner_tui.cli.plan_cmd import FiniteRange
from planner_tui.config import demo_graph_path, load_graph
from planner_tui.config.commands import check_commands
from planner_tui.config.errors import ConfigError, Problem
from planner_tui.connectors.errors import ConnectorError

if TYPE_CHECKING:
    from planner_tui.config.graph import GraphConfig
    from planner_tui.profiling.records import Phase, SweepResult, Targets
    from planner_tui.profiling.sweep import Progress

EXIT_FAILED = 1
EXIT_NO_CAPACITY = 3
EXIT_INTERRUPTED = 130
#: a simulated graph is profiled this much faster than real time unless --speedup says otherwise
SIM_SPEEDUP = 8.0


def _lengths(value: str | None, option: str) -> list[float] | None:
    if value is None:
        return None
    try:
        lengths = sorted({float(part) for part in value.split(",") if part.strip()})
    except ValueError:
        raise click.BadParameter(f"expected lengths separated by commas, e.g. 256,1024; got {value!r}") from None
    if not lengths or any(not 1 <= x <= 1_000_000 for x in lengths):
        raise click.BadParameter(f"lengths must be between 1 and 1000000 tokens, got {value!r}", param_hint=option)
    return lengths


class ProgressLine:
    """A progress bar with the time left on a terminal; one line per measured point otherwise."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._drawn = False

    def _clear(self) -> None:
        if self.tty and self._drawn:
            self.out.write("\r\033[K")
            self._drawn = False

    def update(self, progress: Progress) -> None:
        """Draw a :class:`~planner_tui.profiling.sweep.Progress`."""
        from planner_tui.model.text import seconds

        if progress.point is not None:
            self._clear()
            self.out.write(f"  {progress.point.describe()}\n")
        if not self.tty:
            self.out.flush()
            return
        total = max(progress.total, progress.done, 1)
        width = 24
        filled = round(width * progress.done / total)
        eta = "estimating time left" if progress.eta_s is None else f"~{seconds(progress.eta_s)} left"
        line = f"[{'#' * filled}{'.' * (width - filled)}] {progress.done}/~{total} points, {eta}: {progress.current}"
        columns = shutil.get_terminal_size((120, 20)).columns
        self._clear()
        self.out.write(line[: columns - 1])
        self.out.flush()
        self._drawn = True

    def done(self) -> None:
        """Leave the bar's line."""
        self._clear()
        self.out.flush()


@click.command("profile")
@click.option("--graph", "graph_file", type=click.Path(dir_okay=False), help="graph file (default: the demo)")
@click.option(
    "--component", "components", multiple=True, help="component to measure (repeat; default: prefill and decode)"
)
@click.option("--ttft-target-ms", type=FiniteRange(min=0.1, max=3_600_000), help="TTFT target (default: the graph's)")
@click.option("--itl-target-ms", type=FiniteRange(min=0.1, max=3_600_000), help="ITL target (default: the graph's)")
@click.option("--quick", is_flag=True, help="a coarse sweep: two lengths per component, fewer and shorter points")
@click.option(
    "--out", "out_file", type=click.Path(dir_okay=False), help="profile file (default: ./NAMESPACE-profile.toml)"
)
@click.option("--isl", "isl_text", help="prefill input lengths to sweep, e.g. 256,1024")
@click.option("--context", "context_text", help="decode context lengths (ISL + OSL/2) to sweep, e.g. 256,1024")
@click.option("--decode-osl", type=click.IntRange(min=2, max=1_000_000), help="output tokens of decode requests")
@click.option("--max-load", type=FiniteRange(min=1, max=100_000), help="highest level: clients, or req/s for the sim")
@click.option("--frontend-url", help="the frontend's OpenAI-compatible API (default: from the graph file)")
@click.option("--model", help="the model to request (default: the first the frontend lists)")
@click.option(
    "--speedup",
    type=FiniteRange(min=0.01, max=1000),
    help=f"run a simulated graph this many times faster (default {SIM_SPEEDUP:g}; rates are in simulated time)",
)
@click.option("--leave-running", is_flag=True, help="on exit leave the graph running instead of stopping it")
@click.option("--no-chart", is_flag=True, help="do not print the latency charts")
@report_config_errors
def profile(
    graph_file: str | None,
    components: tuple[str, ...],
    ttft_target_ms: float | None,
    itl_target_ms: float | None,
    quick: bool,
    out_file: str | None,
    isl_text: str | None,
    context_text: str | None,
    decode_osl: int | None,
    max_load: float | None,
    frontend_url: str | None,
    model: str | None,
    speedup: float | None,
    leave_running: bool,
    no_chart: bool,
) -> None:
    """Measure what one replica of each component serves at the TTFT/ITL targets; write the profile.

    Sweeps prefill (input length x load: TTFT, prompt tokens/s) and decode (context length x load:
    ITL, output tokens/s) with one replica per component and the planner paused. Ctrl-C stops and
    writes a partial profile, marked as such, from what was measured.
    """
    from planner_tui.profiling.bringup import measured_components, profiling_graph
    from planner_tui.profiling.records import Targets
    from planner_tui.runtime.speedup import is_simulated, sped_up

    source = str(graph_file or demo_graph_path())
    graph = load_graph(source)
    check_commands(graph, source)
    measured = measured_components(graph, source, components)
    targets = Targets(
        ttft_target_ms if ttft_target_ms is not None else graph.planner.ttft_target_ms,
        itl_target_ms if itl_target_ms is not None else graph.planner.itl_target_ms,
    )
    isl = _lengths(isl_text, "--isl")
    context = _lengths(context_text, "--context")
    out = Path(out_file or f"{graph.namespace}-profile.toml").expanduser().absolute()
    if out.suffix != ".toml":
        raise ConfigError(str(out), [Problem(("--out",), "the profile is written as TOML: give a FILE.toml")])
    if not out.parent.is_dir() or not os.access(out.parent, os.W_OK):
        raise ConfigError(str(out), [Problem(("--out",), f"{out.parent} is not a writable directory; choose another")])
    if frontend_url is not None and not frontend_url.startswith(("http://", "https://")):
        raise click.BadParameter(f"expected http(s)://HOST:PORT, got {frontend_url!r}", param_hint="--frontend-url")
    if is_simulated(graph) and frontend_url is None:
        graph = sped_up(graph, speedup or SIM_SPEEDUP)
    elif speedup is not None:
        raise click.BadParameter(
            "only a simulated graph (every component simulated = true) runs faster", param_hint="--speedup"
        )
    graph = profiling_graph(graph, list(measured))
    try:
        code = asyncio.run(
            _profile(
                graph,
                source,
                measured,
                targets,
                quick,
                out,
                isl,
                context,
                decode_osl,
                max_load,
                frontend_url,
                model,
                leave_running,
                no_chart,
            )
        )
    except ConnectorError as exc:
        click.echo(f"planner-tui profile: {exc}", err=True)
        raise SystemExit(EXIT_FAILED) from None
    raise SystemExit(code)


async def _profile(
    graph: GraphConfig,
    source: str,
    phases: dict[str, Phase],
    targets: Targets,
    quick: bool,
    out: Path,
    isl: list[float] | None,
    context: list[float] | None,
    decode_osl: int | None,
    max_load: float | None,
    frontend_url: str | None,
    model: str | None,
    leave_running: bool,
    no_chart: bool,
) -> int:
    import dataclasses

    from planner_tui.profiling.bringup import BringUpError, bring_up, endpoints_of, wait_ready
    from planner_tui.profiling.driver import LoadDriver
    from planner_tui.profiling.openai_load import FrontendError, OpenAILoad
    from planner_tui.profiling.output import ProfileWriteError, write_profile
    from planner_tui.profiling.records import SweepResult
    from planner_tui.profiling.scrape import ServerScraper
    from planner_tui.profiling.sim_load import SimLoad
    from planner_tui.profiling.sweep import Sweep, SweepSettings, plan_tasks

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    sweep: Sweep | None = None
    written: Path | None = None
    result: SweepResult | None = None

    def interrupted() -> None:
        stop.set()
        if sweep is not None:
            sweep.stop()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, interrupted)
    names = ", ".join(f"{n} ({p.value})" for n, p in phases.items())
    click.echo(f"planner-tui profile: {graph.namespace}: measuring {names}; bringing the graph up...", err=True)
    opening = asyncio.ensure_future(bring_up(graph, list(phases), frontend_url))
    try:
        await asyncio.wait({opening, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
        if not opening.done():
            click.echo("stopping: waiting for the graph to finish starting...", err=True)
        try:
            session = await opening  # never cancelled half-way: the graph would be left half-started
        except BringUpError as exc:
            click.echo(f"planner-tui profile: {exc}", err=True)
            return EXIT_FAILED
        what = "left running" if leave_running else "stopped"
        try:
            if stop.is_set():
                click.echo("stopped before anything was measured: nothing written", err=True)
                return EXIT_INTERRUPTED
            ready = asyncio.ensure_future(wait_ready(session, list(phases)))
            await asyncio.wait({ready, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                ready.cancel()
                click.echo("stopped before anything was measured: nothing written", err=True)
                return EXIT_INTERRUPTED
            try:
                snapshot = ready.result()
                endpoints = endpoints_of(graph, snapshot, list(phases), frontend_url)
            except BringUpError as exc:
                click.echo(f"planner-tui profile: {exc}", err=True)
                return EXIT_FAILED
            scraper = ServerScraper(endpoints.frontend_metrics_url, endpoints.workers)
            driver: LoadDriver
            if endpoints.simulated:
                driver = SimLoad(endpoints.frontend_url, scraper, speedup=_speedup_of(graph))
            else:
                driver = OpenAILoad(endpoints.frontend_url, scraper, model=model, max_clients=round(max_load or 256))
            settings = SweepSettings.default(driver.kind, quick)
            if max_load is not None:
                settings = dataclasses.replace(settings, max_load=max_load)
            result = SweepResult(
                namespace=graph.namespace,
                graph=source,
                targets=targets,
                load_kind=driver.kind,
                quick=quick,
                started_at=time.time(),
                components=phases,
            )
            tasks = plan_tasks(phases, quick, isl, context, decode_osl)
            progress = ProgressLine(sys.stderr)
            click.echo(
                f"sweeping {len(tasks)} lengths through {endpoints.frontend_url} "
                f"({'the simulated frontend' if endpoints.simulated else 'OpenAI API'}), "
                f"targets TTFT {targets.ttft_ms:g} ms, ITL {targets.itl_ms:g} ms; "
                "Ctrl-C stops and keeps what was measured",
                err=True,
            )
            sweep = Sweep(driver, tasks, result, settings, on_progress=progress.update)
            if stop.is_set():
                sweep.stop()
            try:
                await sweep.run()
            except (FrontendError, ConnectorError, OSError) as exc:
                result.partial = True
                result.partial_reason = f"the load failed: {exc}"
                click.echo(f"planner-tui profile: {exc}", err=True)
            finally:
                progress.done()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(driver.close(), 40)
                await scraper.close()
            try:
                written = write_profile(result, out)
            except ProfileWriteError as exc:
                click.echo(f"planner-tui profile: {exc}", err=True)
                return EXIT_FAILED
        finally:
            click.echo(f"stopping: the graph is {what}...", err=True)
            with contextlib.suppress(Exception):
                await session.close(stop_graph=not leave_running)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    assert result is not None
    _summary(result, written, out, no_chart)
    if result.partial and stop.is_set():
        return EXIT_INTERRUPTED
    if result.partial:
        return EXIT_FAILED
    return 0 if written is not None else EXIT_NO_CAPACITY


def _speedup_of(graph: GraphConfig) -> float:
    """The simulated graph's speed-up (what :func:`~planner_tui.runtime.speedup.sped_up` set), else 1."""
    from planner_tui.runtime.speedup import SPEEDUP_ENV

    for comp in graph.components.values():
        value = comp.env.get(SPEEDUP_ENV)
        if value:
            with contextlib.suppress(ValueError):
                return float(value)
    return 1.0


def _summary(result: SweepResult, written: Path | None, out: Path, no_chart: bool) -> None:
    """The capacity found, cross-check disagreements, warnings, where the files are, and the charts."""
    from planner_tui.profiling.output import sweep_path_for

    state = f"PARTIAL ({result.partial_reason})" if result.partial else "complete"
    click.echo(f"sweep {state}: {len(result.points)} points measured")
    for component, phase in result.components.items():
        capacities = result.capacity.get(component, [])
        target = result.targets.describe(phase)
        if not capacities:
            click.echo(f"{component}: no capacity at {target}")
            continue
        click.echo(f"{component}: capacity of one replica at {target}:")
        for capacity in capacities:
            click.echo(
                f"  {phase.axis} {capacity.length:>7g}: {capacity.tokens_per_s:8.0f} {phase.tokens_name} "
                f"({capacity.basis})"
            )
    disagreements = sorted(
        {
            f"{p.component} @ {p.load_kind.describe(p.load)}: {c.describe()}"
            for p in result.points
            for c in p.checks
            if c.agrees is False
        }
    )
    for line in disagreements[:10]:
        click.echo(f"cross-check: {line}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}")
    if written is not None:
        click.echo(f'profile: {written} (set [planner] profile_file = {str(written)!r} and policy = "throughput")')
    else:
        click.echo("no profile written: no length met its target (see the raw sweep)")
    click.echo(f"raw sweep: {sweep_path_for(out)}")
    if no_chart or not result.points:
        return
    try:
        from planner_tui.profiling.chart import render_chart
    except ImportError:  # pragma: no cover - plotext is a dependency
        return
    columns = shutil.get_terminal_size((100, 24)).columns
    for component in result.components:
        if result.points_of(component):
            click.echo(render_chart(result, component, width=min(columns, 110), height=20))
