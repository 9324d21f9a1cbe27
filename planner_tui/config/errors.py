"""Configuration errors that name the file, the key path and the fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem in a configuration file: where (``loc``, a key path) and what is expected."""

    loc: tuple[str | int, ...]
    message: str

    @property
    def key_path(self) -> str:
        """The dotted key path, e.g. ``components.decode.max_replicas`` (``[2]`` for list items)."""
        out = ""
        for part in self.loc:
            if isinstance(part, int):
                out += f"[{part}]"
            else:
                out += f".{part}" if out else part
        return out or "(top level)"

    def format(self, source: str) -> str:
        """``graph.toml: components.decode.max_replicas: must be >= min_replicas (2), got 1``."""
        return f"{source}: {self.key_path}: {self.message}"


class ConfigError(Exception):
    """A configuration file that cannot be used, with one :class:`Problem` per thing to fix."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One human-readable line per problem."""
        return [p.format(self.source) for p in self.problems]
