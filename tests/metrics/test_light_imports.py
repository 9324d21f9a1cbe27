"""A dashboard that scrapes nothing and exports nothing never loads httpx or prometheus_client.

httpx (with httpcore, and what its command line pulls in) costs ~8 MiB and ~70 ms to import,
prometheus_client 1-3 MiB: they are imported only once an httpx client is made, a text needs the
reference parser, or the planner exporter is on. Each import check runs in a fresh interpreter,
since this test process has imported them long before.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest

from planner_tui.metrics.http11 import HttpProtocolError
from planner_tui.metrics.scrape import Scraper

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("httpx", "httpcore", "prometheus_client")

#: a local graph whose one component has no metrics endpoint, no Prometheus source, no exporter
GRAPH = """
namespace = "light"
[resources]
gpus = []
[metrics]
interval_s = 0.25
[components.decode]
role = "decode"
command = "worker"
max_replicas = 2
"""


def loaded_after(code: str) -> dict[str, bool]:
    """Which of :data:`HEAVY` a fresh interpreter has imported after running ``code``."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))\n"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_session_loads_neither_httpx_nor_prometheus_client() -> None:
    loaded = loaded_after("import planner_tui.runtime.attach, planner_tui.runtime.session")
    assert loaded == dict.fromkeys(HEAVY, False)


def test_collecting_a_graph_without_metrics_endpoints_loads_neither() -> None:
    code = f"""
import asyncio
from planner_tui.config import parse_graph
from planner_tui.metrics.collector import Collector
from planner_tui.metrics.endpoints import EndpointSignalSource
from tests.metrics.connector_double import StaticConnector, component, replica

async def main() -> None:
    connector = StaticConnector("light", component("decode", "decode", replica("decode", 0)))
    collector = Collector(connector, parse_graph({GRAPH!r}))
    assert any(isinstance(s, EndpointSignalSource) for s in collector.sources)
    await collector.collect_once()
    await collector.collect_once()
    await collector.stop()

asyncio.run(main())
"""
    assert loaded_after(code) == dict.fromkeys(HEAVY, False)


def test_what_needs_them_still_imports_them() -> None:
    code = f"""
from planner_tui.config import parse_graph
from planner_tui.metrics.exposition import parse_exposition, parse_fast
from planner_tui.metrics.fetch import new_client
from planner_tui.planner.exporter import PlannerExporter

assert type(new_client()).__module__.startswith("httpx")
text = "# TYPE a counter\\na 1\\n"  # a counter not named *_total: prometheus_client's parser renames it
assert parse_fast(text) is None and [tuple(s) for s in parse_exposition(text)] == [("a_total", {{}}, 1.0)]
PlannerExporter(parse_graph({GRAPH!r}), port=0)
"""
    assert loaded_after(code) == dict.fromkeys(HEAVY, True)


class RaisingFetcher:
    """A :class:`~planner_tui.metrics.fetch.Fetcher` whose every request fails with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def get(self, url: str, timeout: float) -> tuple[int, bytes]:
        raise self.error

    def retain(self, urls: Iterable[str]) -> None:
        pass

    async def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (httpx.ConnectError("refused here"), "cannot connect: refused here"),
        (httpx.ReadTimeout("slow"), "timed out after 2 s"),
        (httpx.RemoteProtocolError("garbled"), "RemoteProtocolError: garbled"),
        (TimeoutError(), "timed out after 2 s"),
        (ConnectionRefusedError(111, "Connection refused"), "cannot connect: [Errno 111] Connection refused"),
        (HttpProtocolError("bad status line"), "HttpProtocolError: bad status line"),
    ],
)
async def test_fetch_errors_are_described_as_before(error: BaseException, message: str) -> None:
    scraper = Scraper()
    scraper.fetcher = RaisingFetcher(error)
    result = (await scraper.scrape(["http://127.0.0.1:1/metrics"], timeout=2, concurrency=1))[
        "http://127.0.0.1:1/metrics"
    ]
    assert not result.ok and result.error == message
    await scraper.close()


async def test_an_unexpected_fetch_error_is_not_swallowed() -> None:
    scraper = Scraper()
    scraper.fetcher = RaisingFetcher(RuntimeError("a bug"))
    with pytest.raises(RuntimeError, match="a bug"):
        await scraper.scrape(["http://127.0.0.1:1/metrics"], timeout=2, concurrency=1)
    await scraper.close()
