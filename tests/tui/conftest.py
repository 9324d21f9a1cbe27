"""The live dashboard tests reuse the runtime tests' real graph (load-worker processes under circus)."""

from tests.runtime.conftest import load_file, open_session

__all__ = ["load_file", "open_session"]
