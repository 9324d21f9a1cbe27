"""Memory and CPU of scraping hostile metrics bodies (issue 11 item 13).

    python benchmarks/bench_hostile_scrape.py [--mib N] [--cases a,b,...] [--max-body-mib N]

Each case runs in a fresh child process (so that its peak RSS is its own): a real server on
127.0.0.1 serves the body, a :class:`~planner_tui.metrics.scrape.Scraper` scrapes it three times
(the second and third are where a layout would be built) and waits for any layout still compiling.
Prints, per case: the growth of peak RSS over the child's baseline, CPU seconds, wall seconds, and
the scrape's error. Cases: ``huge`` (an N MiB body with its Content-Length, all plain samples),
``chunked`` (the same, chunked without end), ``cap`` (a body just under the 4 MiB cap, plain
samples: the worst accepted case), ``garbage`` (1 MiB of random bytes), ``line`` (one 3 MiB line).

To see the cost before the caps, run it with ``PYTHONPATH`` pointing at an older tree and a small
``--mib`` (the old code held and parsed the whole body: 60 MB took 6 GB and 90 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


async def _child(case: str, mib: float) -> dict[str, object]:
    sys.path.insert(0, str(ROOT))
    from planner_tui.metrics.scrape import Scraper
    from tests.metrics.hostile_targets import LINE, HostileServer

    whole_lines = int(mib * 1024 * 1024) // len(LINE) * len(LINE)  # a valid exposition: the costliest to read
    server = HostileServer(huge_bytes=whole_lines).start()
    if case == "cap":
        line = 'filler_metric{replica="replica-0",series="0123456789",model="some/model-name-8b"} 1.5\n'
        server.set_text("/cap", line * (4 * 1024 * 1024 // len(line) - 10))
    path = {"huge": "/huge", "chunked": "/forever", "cap": "/cap", "garbage": "/garbage", "line": "/line"}[case]
    url = server.url(path)
    scraper = Scraper()
    await scraper.scrape([server.set_text("/warm", "a 1\n")], 5, 1)  # imports and first allocations
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu0, wall0 = time.process_time(), time.perf_counter()
    error: str | None = None
    for _ in range(3):
        result = (await scraper.scrape([url], 120, 1))[url]
        error = result.error
    parser = getattr(scraper, "_parsers", {}).get(url)
    compiling = getattr(parser, "compiling", None)
    if compiling is not None:
        await asyncio.wrap_future(compiling)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base_rss
    await scraper.close()
    server.stop()
    return {"case": case, "rss_mib": rss / 1024, "cpu_s": cpu, "wall_s": wall, "error": (error or "ok")[:90]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=float, default=60.0, help="size of the huge and chunked bodies (MiB)")
    parser.add_argument("--cases", default="huge,chunked,cap,garbage,line")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_child(args.child, args.mib))))
        return
    print(f"{'case':<9} {'peak RSS growth':>16} {'CPU':>8} {'wall':>8}  error")
    for case in args.cases.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--child", case, "--mib", str(args.mib)],
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        row = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{row['case']:<9} {row['rss_mib']:>12.1f} MiB {row['cpu_s']:>7.2f}s {row['wall_s']:>7.2f}s  {row['error']}"
        )


if __name__ == "__main__":
    main()
