"""A sim replica imports only what it needs, so a 16-replica demo fits a laptop."""

from __future__ import annotations

import subprocess
import sys

HEAVY = {"pydantic", "textual", "kubernetes", "httpx", "circus", "zmq", "pynvml", "psutil"}


def test_sim_processes_import_no_heavy_dependency() -> None:
    code = (
        "import sys\n"
        "import planner_tui.cli.main, planner_tui.cli.sim_cmd\n"
        "import planner_tui.sim.frontend, planner_tui.sim.worker\n"
        f"print(','.join(sorted({{m.split('.')[0] for m in sys.modules}} & {HEAVY!r})))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"a sim process would import {result.stdout.strip()}"
