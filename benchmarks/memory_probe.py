"""Helper of ``bench_memory.py``: one process whose memory is measured, in one of four modes.

    python memory_probe.py dashboard OUT AFTER -- planner-tui arguments...
    python memory_probe.py textual OUT AFTER [MODULES [--block-pydantic]]
    python memory_probe.py attribute OUT MODULES

``dashboard`` runs ``python -m planner_tui ARGS`` in this process and, AFTER seconds in, writes its
memory (VmHWM, VmRSS, file-backed and anonymous) and the modules it has loaded, in load order, to OUT
(JSON). ``textual`` first imports the modules listed in MODULES (a file ``dashboard`` wrote; none
without it), with pydantic made unimportable when ``--block-pydantic`` is given (the modules that need
it are skipped and named), then runs a Textual app that redraws 8 rows every second, as the dashboard's
GPU panel does, and writes the same figures AFTER seconds in, then exits. ``attribute`` imports MODULES'
list in order, no terminal needed, and writes how much VmRSS each top-level package added.
"""

from __future__ import annotations

import collections
import importlib
import json
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import Any

PYDANTIC = ("pydantic", "pydantic_core", "annotated_types", "typing_inspection")


def memory() -> dict[str, float]:
    """This process's VmHWM, VmRSS, RssAnon and RssFile in MiB."""
    wanted = {"VmHWM", "VmRSS", "RssAnon", "RssFile"}
    found: dict[str, float] = {}
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in wanted:
                found[key] = int(value.split()[0]) / 1024
    return found


def dump_later(out: Path, after: float, extra: dict[str, Any], then: Any = None) -> None:
    """In a daemon thread: AFTER seconds in, write the figures and the loaded modules to OUT, call ``then``."""

    def dump() -> None:
        time.sleep(after)
        data = {**memory(), "modules": list(sys.modules), **extra}
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(out)
        if then is not None:
            then()

    threading.Thread(target=dump, daemon=True).start()


def import_all(modules: list[str]) -> list[str]:
    """Import ``modules`` in order; the ones that failed (their dependency blocked)."""
    skipped = []
    for name in modules:
        if name in sys.modules or name == "__main__" or name.split(".")[0] in PYDANTIC:
            continue
        try:
            importlib.import_module(name)
        except Exception:  # a module needing a blocked package: named in the output
            skipped.append(name)
    return skipped


def listed(path: str) -> list[str]:
    return list(json.loads(Path(path).read_text(encoding="utf-8"))["modules"])


def run_textual(out: Path, after: float, modules: list[str], block: bool) -> None:
    if block:
        for name in PYDANTIC:
            sys.modules[name] = None  # type: ignore[assignment]
    skipped = import_all(modules)
    from textual.app import App, ComposeResult
    from textual.widgets import Static

    class Rows(App[None]):
        def compose(self) -> ComposeResult:
            self.rows = [Static(f"{i}") for i in range(8)]
            yield from self.rows

        def on_mount(self) -> None:
            self.set_interval(1.0, self.redraw)

        def redraw(self) -> None:
            now = time.time()
            for index, row in enumerate(self.rows):
                row.update(f"│  {index}   {int(now) % 100:3d}%   {now:.1f}")

    app = Rows()
    dump_later(out, after, {"skipped": skipped}, lambda: app.call_from_thread(app.exit))
    app.run()


def attribute(out: Path, modules: list[str]) -> None:
    added: dict[str, float] = collections.defaultdict(float)
    before = memory()["VmRSS"]
    start = before
    for name in modules:
        if name in sys.modules or name == "__main__":
            continue
        try:
            importlib.import_module(name)
        except Exception:  # counted as nothing
            continue
        now = memory()["VmRSS"]
        added[name.split(".")[0]] += now - before
        before = now
    out.write_text(json.dumps({"start": start, "end": before, "packages": dict(added)}), encoding="utf-8")


def main() -> None:
    mode, out = sys.argv[1], Path(sys.argv[2])
    if mode == "dashboard":
        after = float(sys.argv[3])
        args = sys.argv[sys.argv.index("--") + 1 :]
        dump_later(out, after, {})
        sys.argv = ["planner-tui", *args]
        runpy.run_module("planner_tui", run_name="__main__", alter_sys=True)
    elif mode == "textual":
        after = float(sys.argv[3])
        modules = listed(sys.argv[4]) if len(sys.argv) > 4 else []
        run_textual(out, after, modules, "--block-pydantic" in sys.argv)
    elif mode == "attribute":
        attribute(out, listed(sys.argv[3]))
    else:
        raise SystemExit(f"unknown mode {mode!r}: dashboard, textual or attribute")


if __name__ == "__main__":
    main()
