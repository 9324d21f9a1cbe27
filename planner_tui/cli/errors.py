"""Turning the core's typed errors into one clear message and an exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import click

from planner_tui.config.errors import ConfigError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_CONFIG = 2  # bad input: same code click uses for usage errors


def report_config_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Print a :class:`ConfigError`'s lines to stderr and exit with code 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for line in exc.lines():
                click.echo(line, err=True)
            raise SystemExit(EXIT_CONFIG) from None

    return wrapper
