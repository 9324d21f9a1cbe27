"""The real-Dynamo fixtures (the venv built on first use, the mocker's model) for the profiling tests."""

from tests.dynamo.conftest import dynamo_model, dynamo_python

__all__ = ["dynamo_model", "dynamo_python"]
