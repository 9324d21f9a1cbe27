"""The simulated serving graph: a frontend and prefill/decode/aggregated workers as real processes.

Started as ``planner-tui sim frontend ...`` and ``planner-tui sim worker --role ...``. The processes serve
Dynamo/vLLM-named Prometheus metrics and simulated DCGM GPU gauges, so the planner and the dashboard see
a graph whose load reacts to scaling, without a GPU.

The modules that run inside the sim processes import only the standard library and ``prometheus_client``
(no pydantic, textual, kubernetes, httpx or circus), so each replica starts fast and stays small.
Only :mod:`planner_tui.sim.control` (the CLI's name for :mod:`planner_tui.loadcontrol.client`) imports httpx.

The processes listen on loopback only (unless ``--allow-remote``), and every request that changes the
simulation carries the frontend's control token (see :mod:`planner_tui.loadcontrol.tokens`).
"""
