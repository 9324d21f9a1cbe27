"""The recorder: a graph's Snapshots, decisions and frontend workload, written to a recording per interval.

Feed it what a graph source publishes (:meth:`Recorder.snapshot` for each Snapshot, :meth:`Recorder.decision`
for each decision). Each Snapshot ends an interval: the recorder reads the frontend replicas' metrics once
(the Snapshot names their ``metrics_url``), turns them into that interval's workload
(:mod:`~planner_tui.recording.workload`), and writes the interval's records as one frame.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

from planner_tui.config.graph import GraphConfig
from planner_tui.metrics.exposition import Sample
from planner_tui.metrics.scrape import Scraper
from planner_tui.metrics.snapshot_json import snapshot_to_dict
from planner_tui.model.components import Role
from planner_tui.model.decisions import Decision
from planner_tui.model.replicas import Phase
from planner_tui.model.snapshot import Snapshot
from planner_tui.planner.records import decision_to_dict
from planner_tui.recording.format import RecordingWriter
from planner_tui.recording.workload import SAMPLE_NAMES, WorkloadInterval, WorkloadSampler

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


def frontend_urls(snapshot: Snapshot) -> list[str]:
    """The metrics URLs of the Snapshot's frontend replicas that are up."""
    urls: list[str] = []
    for state in snapshot.components.values():
        if state.spec.role is not Role.FRONTEND:
            continue
        for replica in state.replicas:
            if replica.metrics_url and replica.phase in (Phase.RUNNING, Phase.READY):
                urls.append(replica.metrics_url)
    return urls


class Recorder:
    """Writes one graph's events to a :class:`RecordingWriter` (see the module's docstring)."""

    def __init__(
        self,
        writer: RecordingWriter,
        graph: GraphConfig,
        *,
        started: float,
        recorded_by: str,
        scraper: Scraper | None = None,
        scrape_timeout_s: float | None = None,
    ) -> None:
        self.writer = writer
        self.graph = graph
        self.scraper = scraper
        self.scrape_timeout_s = scrape_timeout_s or min(graph.metrics.scrape_timeout_s, 0.7 * graph.metrics.interval_s)
        self.sampler = WorkloadSampler()
        self.snapshots = 0
        self.decisions = 0
        self.intervals = 0
        self._last_decision: float | None = None
        writer.add("header", started, self.header(started, recorded_by))
        writer.flush()

    def header(self, started: float, recorded_by: str) -> dict[str, Any]:
        """The header record: format version, the graph, who recorded and when."""
        return {
            "version": FORMAT_VERSION,
            "namespace": self.graph.namespace,
            "graph": self.graph.model_dump(mode="json"),
            "started": started,
            "recorded_by": recorded_by,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }

    def decision(self, decision: Decision) -> None:
        """Queue a decision (written with the next interval's frame)."""
        self.writer.add("decision", decision.timestamp, decision_to_dict(decision))
        self.decisions += 1

    async def snapshot(self, snapshot: Snapshot) -> None:
        """Write ``snapshot`` and this interval's workload, then end the frame."""
        self.writer.add("snapshot", snapshot.timestamp, snapshot_to_dict(snapshot))
        self.snapshots += 1
        interval = await self._workload(snapshot)
        if interval is not None:
            self.writer.add("workload", interval.start, interval.to_dict())
            self.intervals += 1
        self.writer.flush()

    async def _workload(self, snapshot: Snapshot) -> WorkloadInterval | None:
        if self.scraper is None:
            return None
        urls = frontend_urls(snapshot)
        if not urls:
            self.sampler.reset()
            return None
        results = await self.scraper.scrape(urls, self.scrape_timeout_s, len(urls), SAMPLE_NAMES)
        merged: dict[str, list[Sample]] = {}
        for result in results.values():
            if not result.ok:
                log.info("workload: frontend metrics %s: %s", result.url, result.error)
                self.sampler.reset()
                return None
            _merge(merged, result.by_name())
        return self.sampler.feed(snapshot.timestamp, merged)

    def close(self) -> None:
        """Write what is queued and close the file."""
        self.writer.close()


def _merge(into: dict[str, list[Sample]], by_name: Mapping[str, list[Sample]]) -> None:
    for name, samples in by_name.items():
        into.setdefault(name, []).extend(samples)
