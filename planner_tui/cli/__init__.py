"""The ``planner-tui`` command line (click)."""
