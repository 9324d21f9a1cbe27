"""DESIGN.md's layering: the core is usable headless; only planner_tui.tui imports textual."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import planner_tui


def core_modules() -> list[str]:
    names = ["planner_tui"]
    for info in pkgutil.walk_packages(planner_tui.__path__, "planner_tui."):
        if info.name == "planner_tui.tui" or info.name.startswith("planner_tui.tui."):
            continue
        names.append(info.name)
    return names


def test_core_does_not_import_textual() -> None:
    modules = core_modules()
    assert "planner_tui.config" in modules and "planner_tui.model" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    if name.endswith('__main__'): continue\n"
        "    importlib.import_module(name)\n"
        "bad = sorted(m for m in sys.modules if m == 'textual' or m.startswith('textual.'))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"core modules imported textual: {result.stdout}"
