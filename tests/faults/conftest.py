"""Fixtures the fault suite shares with the runtime tests (a graph of load workers under a Session)."""

from tests.runtime.conftest import load_file, open_session  # noqa: F401 - fixtures for this folder
