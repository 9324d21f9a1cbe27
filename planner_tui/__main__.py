"""``python -m planner_tui``: the same entry point as the ``planner-tui`` command."""

from planner_tui.cli.main import main

if __name__ == "__main__":
    main()
