"""``planner-tui global-planner``: run the Global Planner service; read its log; make tokens; watch it.

``DYN_NAMESPACE`` (required) names the service's endpoints (``/<ns>/GlobalPlanner/...``);
``POD_NAMESPACE`` (default ``default``) is the Kubernetes namespace of the deployments it runs
locally. Exit codes: 0 stopped as asked; 1 the service could not start; 2 bad options or files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from planner_tui.cli.errors import EXIT_CONFIG, report_config_errors

#: the service's settings file name for DYN_NAMESPACE (as upstream reads it)
NAMESPACE_ENV = "DYN_NAMESPACE"


def _graphs(values: tuple[str, ...]) -> dict[str, object]:
    from planner_tui.config import load_graph

    graphs: dict[str, object] = {}
    for value in values:
        name, sep, file = value.partition("=")
        if not sep or not name or not file:
            raise click.BadParameter(f"expected NAME=FILE, got {value!r}", param_hint="--graph")
        if name in graphs:
            raise click.BadParameter(f"deployment {name!r} is given twice", param_hint="--graph")
        graphs[name] = load_graph(file)
    return graphs


def _service_namespace(namespace: str | None) -> str:
    value = namespace or os.environ.get(NAMESPACE_ENV)
    if not value:
        raise click.UsageError(f"set {NAMESPACE_ENV}=<namespace> (the service's Dynamo namespace) or give --namespace")
    return value


@click.group("global-planner", invoke_without_command=True)
@click.option("--namespace", help=f"the service's namespace (default: ${NAMESPACE_ENV}, which is required otherwise)")
@click.option(
    "--managed-namespaces",
    "managed",
    multiple=True,
    metavar="NS[,NS...]",
    help="caller namespaces allowed to scale (repeat or comma-separate); others get 'not authorized'",
)
@click.option("--environment", type=click.Choice(["kubernetes", "local"]), default="kubernetes", show_default=True)
@click.option("--no-operation", is_flag=True, help="log each request and answer success without scaling")
@click.option("--max-total-gpus", type=int, default=-1, show_default=True, help="GPU budget over every deployment")
@click.option(
    "--graph",
    "graph_specs",
    multiple=True,
    metavar="NAME=FILE",
    help="a deployment NAME and its graph file (local: the service runs it; kubernetes: its components)",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="address to listen on")
@click.option("--port", type=click.IntRange(0, 65535), default=8411, show_default=True)
@click.option("--allow-remote", is_flag=True, help="allow --host beyond loopback (needs --token-file)")
@click.option("--token-file", type=click.Path(dir_okay=False), help="callers' tokens (TOML, 0600); see `token`")
@click.option("--rate-limit", type=click.FloatRange(min=0), default=20.0, show_default=True, help="req/s per caller")
@click.option("--burst", type=click.IntRange(min=1), default=40, show_default=True, help="requests over the rate")
@click.option("--max-body-bytes", type=click.IntRange(min=1024), default=64 * 1024, show_default=True)
@click.option("--blocking-timeout", type=click.FloatRange(min=0.01), default=60.0, show_default=True)
@click.option("--audit-log", type=click.Path(dir_okay=False), help="default: <state dir>/global-planner/<ns>/...")
@click.option("--keep-graphs", is_flag=True, help="on exit leave the local graphs running (the next start adopts them)")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info")
@click.pass_context
@report_config_errors
def global_planner_group(
    ctx: click.Context,
    namespace: str | None,
    managed: tuple[str, ...],
    environment: str,
    no_operation: bool,
    max_total_gpus: int,
    graph_specs: tuple[str, ...],
    host: str,
    port: int,
    allow_remote: bool,
    token_file: str | None,
    rate_limit: float,
    burst: int,
    max_body_bytes: int,
    blocking_timeout: float,
    audit_log: str | None,
    keep_graphs: bool,
    log_level: str,
) -> None:
    """Run the Global Planner: planners whose graph says [connector] kind = "global" send it their
    scaling decisions; it checks, records and applies them.

    \b
    DYN_NAMESPACE=global-infra planner-tui global-planner --environment local --graph demo=demo.toml
    """
    if ctx.invoked_subcommand is not None:
        return
    from planner_tui.connectors.errors import ConnectorError
    from planner_tui.globalplanner.deployments import DeploymentBusy
    from planner_tui.globalplanner.server import serve
    from planner_tui.globalplanner.service import GlobalPlanner
    from planner_tui.globalplanner.settings import ServiceSettings, SettingsError
    from planner_tui.globalplanner.tokens import TokenFileError

    allowed = frozenset(n.strip() for value in managed for n in value.split(",") if n.strip()) or None
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = ServiceSettings(
            namespace=_service_namespace(namespace),
            pod_namespace=os.environ.get("POD_NAMESPACE") or "default",
            managed_namespaces=allowed,
            environment=environment,  # type: ignore[arg-type]
            no_operation=no_operation,
            max_total_gpus=max_total_gpus,
            graphs=_graphs(graph_specs),  # type: ignore[arg-type]
            host=host,
            port=port,
            allow_remote=allow_remote,
            token_file=Path(token_file) if token_file else None,
            rate_per_s=rate_limit,
            burst=burst,
            max_body_bytes=max_body_bytes,
            blocking_timeout_s=blocking_timeout,
            audit_log=Path(audit_log) if audit_log else None,
            stop_graphs=not keep_graphs,
        )
        service = GlobalPlanner(settings)
    except (SettingsError, TokenFileError) as exc:
        click.echo(f"planner-tui global-planner: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    click.echo(
        f"Global Planner {settings.namespace} on http://{host}:{port}/{settings.namespace}/GlobalPlanner "
        f"({environment}{', no-operation' if no_operation else ''}); audit log {service.log.path}",
        err=True,
    )
    try:
        serve(service, log_level=log_level)
    except (DeploymentBusy, ConnectorError, OSError) as exc:  # a graph that cannot start: named, no traceback
        click.echo(f"planner-tui global-planner: {exc}", err=True)
        raise SystemExit(1) from None


@global_planner_group.command("log")
@click.option("--namespace", help=f"the service's namespace (default: ${NAMESPACE_ENV})")
@click.option("--file", "log_file", type=click.Path(dir_okay=False), help="read this request log file")
@click.option("--last", type=click.IntRange(min=0), default=None, metavar="N", help="only the last N requests")
@click.option("--follow", "-f", is_flag=True, help="keep printing new requests (Ctrl-C stops)")
@click.option("--json", "as_json", is_flag=True, help="print the JSON records")
@click.pass_context
def log_command(
    ctx: click.Context, namespace: str | None, log_file: str | None, last: int | None, follow: bool, as_json: bool
) -> None:
    """Print the service's requests and outcomes (caller, deployment, targets, status, latency)."""
    from planner_tui.cli.decisions_cmd import decisions
    from planner_tui.globalplanner.requestlog import default_log_path

    path = Path(log_file) if log_file else default_log_path(_service_namespace(namespace))
    ctx.invoke(decisions, audit_file=str(path), last=last, follow=follow, as_json=as_json)


@global_planner_group.command("token")
@click.argument("name")
@click.option("--file", "service_file", required=True, type=click.Path(dir_okay=False), help="the service's token file")
@click.option("--viewer", is_flag=True, help="a viewer (reads the status, scales nothing) instead of a namespace")
@click.option("--out", type=click.Path(dir_okay=False), help="write the caller's token file (0600) here")
def token_command(name: str, service_file: str, viewer: bool, out: str | None) -> None:
    """Make a token for namespace NAME (or a viewer), add it to the service's token file (0600).

    The caller's copy goes to --out (give it as [connector] token_file), else it is printed.
    """
    from planner_tui.config.paths import write_private_text
    from planner_tui.globalplanner.tokens import TokenFileError, add_token, new_token

    token = new_token()
    try:
        add_token(service_file, "viewer" if viewer else "namespace", name, token)
        if out:
            write_private_text(Path(out).expanduser(), token + "\n")
    except (TokenFileError, OSError) as exc:
        click.echo(f"planner-tui global-planner token: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    if out:
        click.echo(f"added {name} to {service_file}; its token is in {out} (0600)", err=True)
    else:
        click.echo(token)


@global_planner_group.command("dashboard")
@click.option("--address", default="http://127.0.0.1:8411", show_default=True, help="the service's base URL")
@click.option("--namespace", help=f"the service's namespace (default: ${NAMESPACE_ENV})")
@click.option(
    "--token-file", type=click.Path(dir_okay=False), help="a viewer's token file (when the service has tokens)"
)
@click.option("--interval", type=click.FloatRange(min=0.25), default=2.0, show_default=True, help="seconds per refresh")
def dashboard_command(address: str, namespace: str | None, token_file: str | None, interval: float) -> None:
    """Watch a Global Planner: deployments and replicas, the GPU budget, recent requests."""
    from planner_tui.tui.global_planner_app import GlobalPlannerApp

    GlobalPlannerApp(address, _service_namespace(namespace), token_file, interval).run()
