"""The load-control contract of a simulated frontend, shared by the sim (the server) and its clients.

:mod:`~planner_tui.loadcontrol.tokens` is the control token's file (standard library and platformdirs
only, so the sim processes stay small); :mod:`~planner_tui.loadcontrol.client` is the async HTTP client
that ``planner-tui sim load`` and the runtime Session (the dashboard's load keys) use. Nothing is
imported here, so importing one module does not pull in the other.
"""
