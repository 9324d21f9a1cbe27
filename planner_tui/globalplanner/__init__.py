"""The Global Planner service: planners of many graphs delegate their scaling decisions to it.

The seed's contract (``ScaleRequest`` -> ``ScaleResponse``, ``health``) over HTTP, with what
upstream lacks: callers authenticate with per-namespace tokens, requests are size- and rate-limited,
idempotent by ``Idempotency-Key``, and recorded in an audit log. Scaling goes through the project's
connectors (:mod:`planner_tui.connectors.factory`). FastAPI and uvicorn are imported only here.
"""
