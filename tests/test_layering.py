"""docs/ARCHITECTURE.md's layering: imports point down only; the core is usable headless (only planner_tui.tui imports
textual); the runtime finds the sim through the graph file; the dashboard reads no metrics internals."""

from __future__ import annotations

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

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


#: the layer table of docs/ARCHITECTURE.md: what each subpackage may import from planner_tui (imports point down)
ALLOWED: dict[str, set[str]] = {
    "model": {"model"},
    "config": {"config", "model"},
    "connectors": {"connectors", "config", "model", "metrics"},
    "metrics": {"metrics", "config", "model", "connectors"},
    "planner": {"planner", "config", "model", "connectors"},
    "loadcontrol": {"loadcontrol", "config", "model", "connectors"},
    "runtime": {"runtime", "config", "model", "connectors", "metrics", "planner", "loadcontrol"},
    # the dashboard sees records, settings and the runtime's seams: never a source, the planner or the sim
    "tui": {"tui", "config", "model", "runtime", "globalplanner", "recording", "profiling"},
    # recordings: Snapshots (metrics' JSON form), decisions (planner records), the frontend's workload
    "recording": {"recording", "config", "model", "metrics", "planner"},
    # closed-loop evaluation: the sim's virtual graph, the metrics reader, the planner engine, recordings
    "compare": {"compare", "config", "model", "metrics", "planner", "sim", "recording"},
    # the Global Planner service: executes through the connectors, records with the planner's audit log
    "globalplanner": {"globalplanner", "config", "model", "connectors", "planner", "runtime"},
    # profiling: a Session brings the graph up; load through the sim's control contract or HTTP; the profile format
    "profiling": {"profiling", "config", "model", "connectors", "metrics", "planner", "loadcontrol", "runtime"},
    # replica processes stay small: the load-control contract and config/model helpers only
    "sim": {"sim", "loadcontrol", "config", "model"},
}
#: top-level modules below every package (docs/ARCHITECTURE.md): any layer may use them, they import no layer
SHARED = {"forking"}
PACKAGE_ROOT = Path(planner_tui.__file__).parent


def planner_tui_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``planner_tui`` module ``path`` imports (lazily, under TYPE_CHECKING or not), with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) in (
            "import_module",
            "__import__",
        ):
            found += [
                (node.lineno, a.value) for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)
            ]
    return [(line, name) for line, name in found if name.split(".")[0] == "planner_tui"]


def layer_violations() -> list[str]:
    problems = []
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        relative = path.relative_to(PACKAGE_ROOT)
        layer = relative.parts[0] if len(relative.parts) > 1 else None
        if layer not in ALLOWED:
            continue
        for line, name in planner_tui_imports(path):
            target = name.split(".")[1] if name.count(".") else None
            if target is not None and target not in ALLOWED[layer] | SHARED:
                problems.append(f"planner_tui/{relative}:{line} imports {name} ({layer} -> {target})")
    return problems


def test_every_subpackage_imports_only_the_layers_below_it() -> None:
    assert set(ALLOWED) | {"cli"} == {p.name for p in PACKAGE_ROOT.iterdir() if (p / "__init__.py").exists()}
    assert layer_violations() == []


def test_the_shared_modules_import_no_layer() -> None:
    for name in SHARED:
        assert planner_tui_imports(PACKAGE_ROOT / f"{name}.py") == []


def test_the_runtime_finds_the_sim_through_the_graph_not_its_package() -> None:
    runtime = [name for path in (PACKAGE_ROOT / "runtime").rglob("*.py") for _, name in planner_tui_imports(path)]
    assert runtime and not [name for name in runtime if name.startswith("planner_tui.sim")]


def test_the_dashboard_reads_no_metrics_internals() -> None:
    tui = [name for path in (PACKAGE_ROOT / "tui").rglob("*.py") for _, name in planner_tui_imports(path)]
    assert "planner_tui.runtime.source" in tui
    assert not [name for name in tui if name.startswith(("planner_tui.metrics", "planner_tui.connectors"))]
