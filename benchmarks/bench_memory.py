"""Where the dashboard's memory goes, and the floor under it: what a planner-tui process needs at least.

    python benchmarks/bench_memory.py [--runs 3] [--after 8] [--cache-dir DIR]

The same scene as ``bench_vs_nvitop.py`` (a local graph of 8 idle replicas over the fake 8-GPU NVML
library, tmux 120x40, 1 s refresh, planner paused). Each case runs ``--runs`` times in tmux, and its
VmHWM is read ``--after`` seconds in (``memory_probe.py`` measures from inside the process):

1. **dashboard**: planner-tui attached to the graph (as ``bench_vs_nvitop.py`` measures it);
2. **Textual alone**: a Textual app redrawing 8 rows every second, nothing else;
3. **+ every module the dashboard loads**: the same app after importing, in order, every module the
   dashboard had loaded (its code, classes and import-time data; not the data of a running session);
4. **+ the same without pydantic**: pydantic made unimportable, so the modules that need it are
   skipped (named): what the process would weigh if the config layer did not use pydantic.

Then it prints which top-level packages the dashboard's imports add, in order (VmRSS before and after
each import, in a fresh process: a package is charged with what it pulls in first, so ``_hashlib`` carries
the OpenSSL library that ``ssl``, which asyncio imports, would map anyway). Figures are MiB,
min/median/max. The 45 MiB target of issue 16 is printed beside them.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_vs_nvitop import REPO, SESSION, build_nvml, launch, running_graph, tmux

PROBE = Path(__file__).with_name("memory_probe.py")
TARGET_MIB = 45.0


def measured(command: list[str], env: dict[str, str], out: Path, timeout: float) -> dict[str, object]:
    """Run ``command`` (a memory_probe mode) in the bench's tmux session until it has written ``out``."""
    out.unlink(missing_ok=True)
    launch(command, env)
    deadline = time.monotonic() + timeout
    try:
        while not out.exists():
            if time.monotonic() > deadline:
                screen = tmux("capture-pane", "-p", "-t", SESSION, check=False)
                raise SystemExit(f"{' '.join(command)} wrote nothing within {timeout:.0f} s; the screen was:\n{screen}")
            time.sleep(0.05)
    finally:
        tmux("kill-session", "-t", SESSION, check=False)
    return dict(json.loads(out.read_text(encoding="utf-8")))


def spread(values: list[float]) -> str:
    return f"{min(values):7.1f} {statistics.median(values):7.1f} {max(values):7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (at least 3)")
    parser.add_argument("--after", type=float, default=8.0, help="seconds in at which a run's memory is read")
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "planner-tui-bench")
    args = parser.parse_args()
    compileall.compile_dir(str(REPO / "planner_tui"), quiet=1)  # as an install does
    nvml_dir = build_nvml(args.cache_dir.expanduser().absolute())
    scratch = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    try:
        measure_all(args, nvml_dir, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def measure_all(args: argparse.Namespace, nvml_dir: Path, scratch: Path) -> None:
    """Run every case ``args.runs`` times and print the figures (files under ``scratch``)."""
    python = sys.executable
    out, modules = scratch / "out.json", scratch / "modules.json"
    limit = args.after + 30
    cases: dict[str, list[float]] = {}
    skipped: list[str] = []
    with running_graph(nvml_dir, "bench-memory-") as bench:
        env = bench.env
        dashboard = [python, str(PROBE), "dashboard", str(out), str(args.after), "--", "--graph", str(bench.graph)]
        for index in range(args.runs):
            textual = [python, str(PROBE), "textual", str(out), str(args.after)]
            runs = {
                "dashboard": dashboard,
                "Textual alone, 8 rows at 1 Hz": textual,
                "+ every module the dashboard loads": [*textual, str(modules)],
                "+ the same, pydantic blocked": [*textual, str(modules), "--block-pydantic"],
            }
            for name, command in runs.items():
                data = measured(command, env, out, limit)
                if name == "dashboard":
                    modules.write_text(json.dumps(data), encoding="utf-8")
                skipped = list(data.get("skipped", skipped))  # type: ignore[call-overload]
                cases.setdefault(name, []).append(float(data["VmHWM"]))  # type: ignore[arg-type]
                print(f"run {index + 1} {name:<36} peak RSS {data['VmHWM']:.1f} MiB", flush=True)
        attributed = scratch / "attributed.json"
        subprocess.run([python, str(PROBE), "attribute", str(attributed), str(modules)], env=env, check=True)
    print(f"\n{'peak RSS (VmHWM), MiB':<42}{'min':>7} {'median':>7} {'max':>7}")
    for name, values in cases.items():
        print(f"{name:<42}{spread(values)}")
    print(f"{'target (issue 16)':<42}{TARGET_MIB:7.1f}")
    median = {name: statistics.median(values) for name, values in cases.items()}
    names = list(median)
    session = median[names[0]] - median[names[2]]
    floor = median[names[3]] + session
    blocked = median[names[3]]
    verdict = "above" if floor > TARGET_MIB else "within"
    print(f"\na running session adds {session:.1f} MiB over its imports (dashboard - every module), so")
    print(f"the dashboard without pydantic would weigh at least {blocked:.1f} + {session:.1f} = {floor:.1f} MiB")
    print(f"({verdict} the target), before the code of the modules below, which could not load")
    ours = [m for m in skipped if m.startswith("planner_tui")]
    print(f"with pydantic blocked, {len(skipped)} modules could not load, {len(ours)} of them planner-tui's:")
    print("  " + " ".join(ours))
    data = json.loads(attributed.read_text(encoding="utf-8"))
    print(f"\nimports of the dashboard, in its order: VmRSS {data['start']:.1f} -> {data['end']:.1f} MiB")
    ranked = sorted(data["packages"].items(), key=lambda item: -item[1])
    for package, added in ranked[:16]:
        print(f"  {package:<28}{added:6.2f}")
    rest = sum(added for _, added in ranked[16:])
    print(f"  {'(the other ' + str(len(ranked) - 16) + ' packages)':<28}{rest:6.2f}")


if __name__ == "__main__":
    main()
