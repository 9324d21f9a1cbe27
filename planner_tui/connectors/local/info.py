"""Read-only views of a local graph: topology, resource usage, scraped metrics, prefill queue."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from planner_tui.config.graph import GraphConfig
from planner_tui.connectors.local.processes import usage_of
from planner_tui.connectors.local.state_file import NamespaceState
from planner_tui.model.components import ComponentState
from planner_tui.model.signals import Signal


def topology(graph: GraphConfig, states: Mapping[str, ComponentState]) -> dict[str, Any]:
    """Nodes (components with role and counts) and edges ``dependency -> dependent`` (the data flow)."""
    nodes = []
    edges: list[dict[str, str]] = []
    for name, comp in graph.components.items():
        state = states[name]
        nodes.append(
            {
                "name": name,
                "role": comp.role.value,
                "sub_component_type": comp.effective_sub_component_type,
                "desired_replicas": state.desired_replicas,
                "ready_replicas": state.ready_replicas,
                "gpus_per_replica": comp.gpus_per_replica,
                "port": comp.port,
            }
        )
        edges.extend({"from": dep, "to": name} for dep in comp.depends_on)
    return {"namespace": graph.namespace, "backend": "local", "nodes": nodes, "edges": edges}


def _gpu_memory() -> dict[int, float]:
    try:
        from planner_tui.metrics.nvml import process_gpu_memory
    except ImportError:
        return {}
    try:
        return dict(process_gpu_memory())
    except Exception:  # no driver: no per-process GPU memory
        return {}


async def resource_usage(component: str, state: ComponentState, recorded: NamespaceState) -> dict[str, Any]:
    """Per-replica CPU %, RSS, threads from psutil on the real pids, GPU memory from NVML if any."""

    def collect() -> dict[str, Any]:
        gpu_memory = _gpu_memory()
        replicas: dict[str, Any] = {}
        for replica in state.replicas:
            create_time = None
            for rec in recorded.replicas.values():
                if rec.component == component and rec.index == replica.index:
                    create_time = rec.pid_create_time
            usage = usage_of(replica.pid, create_time, gpu_memory)
            replicas[replica.name] = {
                "pid": replica.pid,
                "phase": replica.phase.value,
                "gpus": list(replica.gpus),
                "cpu_percent": usage.cpu_percent,
                "rss_bytes": usage.rss_bytes,
                "threads": usage.threads,
                "gpu_memory_mib": usage.gpu_memory_mib,
            }
        total = {
            "cpu_percent": sum(r["cpu_percent"] or 0.0 for r in replicas.values()),
            "rss_bytes": sum(r["rss_bytes"] or 0 for r in replicas.values()),
            "threads": sum(r["threads"] or 0 for r in replicas.values()),
            "gpus": sum(len(r["gpus"]) for r in replicas.values()),
        }
        return {"component": component, "replicas": replicas, "total": total}

    return await asyncio.to_thread(collect)


@dataclass(slots=True)
class _Scraped:
    url: str
    ok: bool
    error: str | None = None
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


async def _scrape(urls: Sequence[str], timeout: float) -> dict[str, _Scraped]:
    from planner_tui.metrics.scrape import scrape

    results = await scrape(urls, timeout=timeout, concurrency=32)
    return {
        url: _Scraped(url, res.ok, res.error, [(s.name, dict(s.labels), float(s.value)) for s in res.samples])
        for url, res in results.items()
    }


def _key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


async def component_metrics(state: ComponentState, timeout: float) -> dict[str, Any]:
    """Scrape every replica's metrics URL: ``replicas[label] = {url, ok, error, metrics}`` and totals."""
    urls = {r.name: r.metrics_url for r in state.replicas if r.metrics_url and r.phase.is_live}
    scraped = await _scrape(list(urls.values()), timeout) if urls else {}
    replicas: dict[str, Any] = {}
    totals: dict[str, float] = {}
    for label, url in urls.items():
        res = scraped.get(url) or _Scraped(url, False, "not scraped")
        metrics = {_key(name, labels): value for name, labels, value in res.samples}
        for name, _labels, value in res.samples:
            totals[name] = totals.get(name, 0.0) + value
        replicas[label] = {"url": url, "ok": res.ok, "error": res.error, "metrics": metrics}
    return {"component": state.name, "timestamp": time.time(), "replicas": replicas, "totals": totals}


async def prefill_queue(graph: GraphConfig, states: Mapping[str, ComponentState]) -> dict[str, Any]:
    """Queue depth of the prefill workers: ``total``, ``per_worker`` and the metric each value came from.

    The metrics are the ones the collector reads as the component's queue depth (the graph's signal
    preset, or the component's override), first present wins.
    """
    from planner_tui.metrics.signals import component_specs

    per_worker: dict[str, float | None] = {}
    sources: dict[str, str | None] = {}
    errors: dict[str, str] = {}
    for name, comp in graph.components.items():
        if comp.effective_sub_component_type != "prefill":
            continue
        wanted = component_specs(graph.metrics.preset, comp.role.value, comp.signals)[Signal.QUEUE_DEPTH].metrics
        scraped = await component_metrics(states[name], graph.metrics.scrape_timeout_s)
        for label, replica in scraped["replicas"].items():
            if not replica["ok"]:
                errors[label] = replica["error"] or "scrape failed"
                per_worker[label], sources[label] = None, None
                continue
            value, source = None, None
            for metric in wanted:
                found = [v for k, v in replica["metrics"].items() if k == metric or k.startswith(metric + "{")]
                if found:
                    value, source = float(sum(found)), metric
                    break
            per_worker[label], sources[label] = value, source
    known = [v for v in per_worker.values() if v is not None]
    return {
        "total": sum(known) if known else None,
        "average": sum(known) / len(known) if known else None,
        "per_worker": per_worker,
        "sources": sources,
        "errors": errors,
        "timestamp": time.time(),
    }
