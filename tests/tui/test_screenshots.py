"""The screenshot script writes the four SVGs the README links to."""

from __future__ import annotations

from pathlib import Path

from planner_tui.tui.screenshots import generate

REPO = Path(__file__).resolve().parents[2]


async def test_screenshots_show_each_screen(tmp_path: Path) -> None:
    paths = await generate(tmp_path)
    texts = {path.stem: path.read_text().replace("&#160;", " ") for path in paths}
    assert set(texts) == {"main", "logs", "scale-dialog", "help"}
    assert "SIMULATED" in texts["main"] and "Decisions" in texts["main"]
    assert "logs · decode" in texts["logs"] and "[decode-1]" in texts["logs"]
    assert "Scale decode" in texts["scale-dialog"]
    assert "Cycle the planner mode" in texts["help"]
    assert "screenshots/main.svg" in (REPO / "README.md").read_text()
