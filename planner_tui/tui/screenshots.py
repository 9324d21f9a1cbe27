"""Regenerate the README's screenshots from a deterministic run (fixed data, frozen clock).

    python -m planner_tui.tui.screenshots [--out screenshots]

Writes ``main.svg``, ``logs.svg``, ``scale-dialog.svg`` and ``help.svg``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path

from planner_tui.tui.app import DashboardApp
from planner_tui.tui.sample_data import EPOCH, sample_source
from planner_tui.tui.screens import MainScreen

log = logging.getLogger(__name__)

SIZE = (120, 40)
# (file name, keys pressed after selecting the decode component)
SHOTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("main", ()),
    ("logs", ("l",)),
    ("scale-dialog", ("s", "backspace", "4")),
    ("help", ("question_mark",)),
)


async def _shoot(name: str, keys: Sequence[str], folder: Path) -> Path:
    app = DashboardApp(sample_source(), clock=lambda: EPOCH, remember_theme=False, header_interval_s=3600)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(3):
            await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MainScreen)
        for _ in range(4):
            if screen.selected_component() == "decode":
                break
            await pilot.press("down")
        for key in keys:
            await pilot.press(key)
        for _ in range(10):  # let the log view's worker and 0.25 s batches land
            await pilot.pause(0.05)
        path = folder / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(folder))
    return path


async def generate(folder: Path) -> list[Path]:
    """Write every screenshot into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    return [await _shoot(name, keys, folder) for name, keys in SHOTS]


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="folder to write the SVGs to")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for path in asyncio.run(generate(args.out)):
        log.info("wrote %s", path)


if __name__ == "__main__":
    main()
